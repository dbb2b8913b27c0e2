import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { CLI_LOGIN_TOKEN_PATH } from '../../lib/cli-login';
import { revokeApiToken } from '../access-keys/api-tokens';
import { redeemCliLogin } from '../access-keys/cli-login';
import { recordAudit } from '../audit/audit';
import type { Auth } from '../auth/auth';
import { listCliBoxes } from '../connect/cli-boxes';
import type { Db } from '../db/client';
import type { ClientAddress } from './client-address';
import { identityRefusalMessage, type Identity } from './identity';
import { sendJson } from './responses';

/**
 * The CLI's REST endpoints, authenticated by a personal API token instead of a session cookie:
 *
 *   GET  /api/cli/boxes        Authorization: Bearer byd_...   200 {"user": {"email"}, "boxes": [{"name", "host", "port", "user"}]}
 *   GET  /api/cli/me           Authorization: Bearer byd_...   200 {"user": {"email"}, "token": {"name"}}   (`boxyard login --token`)
 *   POST /api/cli/logout       Authorization: Bearer byd_...   200 {"revoked": {"name"}}: revokes the calling token
 *   POST /api/cli/login/token  {"device_code"}                 one poll of `boxyard login` (lib/cli-login.ts):
 *                                                              200 {"access_token", "token_type", "email", "token_name"} or 400 {"error", "error_description"}
 *
 * Every one with a token answers 401 {"error": "..."} for no, an unknown or a revoked token.
 */

export const CLI_API_PATH = '/api/cli';
const BOXES_PATH = `${CLI_API_PATH}/boxes`;
const ME_PATH = `${CLI_API_PATH}/me`;
const LOGOUT_PATH = `${CLI_API_PATH}/logout`;

const NO_TOKEN = 'Send an API token as "Authorization: Bearer byd_..."; make one on your profile page.';
/** A poll body is a device code of a few dozen characters: anything much larger is not one. */
const MAX_BODY_BYTES = 4096;
const pollBody = z.object({ device_code: z.string().min(1).max(200) });

type TokenIdentity = Extract<Identity, { via: 'api-token' }>;

export function createCliApiRoute(deps: { db: Db; auth: Auth; identify: (req: IncomingMessage) => Promise<Identity>; clientAddress: ClientAddress }) {
  /** The caller's API token, or null once it has answered 401. */
  const tokenIdentity = async (req: IncomingMessage, res: ServerResponse): Promise<TokenIdentity | null> => {
    const identity = await deps.identify(req);
    const refuse = (error: string) => sendJson(res, 401, { error }, { 'www-authenticate': 'Bearer' });
    if (!identity.user) refuse(identity.refusal === 'no-credentials' ? NO_TOKEN : identityRefusalMessage(identity.refusal));
    else if (identity.via !== 'api-token') refuse(NO_TOKEN); // a browser session is no token: the CLI API takes tokens only
    else return identity;
    return null;
  };

  const routes = new Map<string, { method: 'GET' | 'POST'; handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> }>(Object.entries({
    [BOXES_PATH]: {
      method: 'GET',
      async handle(req, res) {
        const identity = await tokenIdentity(req, res);
        if (identity) sendJson(res, 200, await listCliBoxes(deps.db, identity.user, identity.tokenId));
      },
    },
    [ME_PATH]: {
      method: 'GET',
      async handle(req, res) {
        const identity = await tokenIdentity(req, res);
        if (!identity) return;
        const token = await deps.db.apiToken.findUniqueOrThrow({ where: { id: identity.tokenId }, select: { name: true } });
        sendJson(res, 200, { user: { email: identity.user.email }, token: { name: token.name } });
      },
    },
    [LOGOUT_PATH]: {
      method: 'POST',
      async handle(req, res) {
        const identity = await tokenIdentity(req, res);
        if (!identity) return;
        const token = await revokeApiToken(deps.db, identity.user, identity.tokenId);
        await recordAudit(deps.db, {
          actor: identity.user,
          action: 'cli.logout',
          detail: { name: token.name, prefix: token.prefix, address: deps.clientAddress(req) },
          result: 'ok',
        });
        sendJson(res, 200, { revoked: { name: token.name } });
      },
    },
    [CLI_LOGIN_TOKEN_PATH]: {
      method: 'POST',
      async handle(req, res) {
        const body = pollBody.safeParse(await readJson(req));
        if (!body.success) return sendJson(res, 400, { error: 'invalid_request', error_description: `Send {"device_code": "..."} as JSON to ${CLI_LOGIN_TOKEN_PATH}.` });
        const result = await redeemCliLogin(deps, body.data.device_code, deps.clientAddress(req));
        if (!result.ok) return sendJson(res, 400, { error: result.error, error_description: result.description });
        sendJson(res, 200, { access_token: result.token, token_type: 'Bearer', email: result.email, token_name: result.tokenName });
      },
    },
  }));

  return async (req: IncomingMessage, res: ServerResponse, { pathname }: URL): Promise<void> => {
    const route = routes.get(pathname);
    if (!route) return sendJson(res, 404, { error: `No such CLI endpoint; the CLI uses GET ${BOXES_PATH}.` });
    if (req.method !== route.method) return sendJson(res, 405, { error: `Use ${route.method} ${pathname}.` }, { allow: route.method });
    await route.handle(req, res);
  };
}

/** The request's JSON body; null when it is not JSON or larger than MAX_BODY_BYTES. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return null;
  }
}

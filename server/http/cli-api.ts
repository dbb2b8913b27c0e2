import type { IncomingMessage, ServerResponse } from 'node:http';
import { listCliBoxes } from '../connect/cli-boxes';
import type { Db } from '../db/client';
import { identityRefusalMessage, type Identity } from './identity';
import { sendJson } from './responses';

/**
 * The CLI's REST endpoint (`boxyard connect`), authenticated by a personal API token instead of a session cookie:
 *
 *   GET /api/cli/boxes   Authorization: Bearer byd_...
 *   200 {"user": {"email"}, "boxes": [{"name", "host", "port", "user"}]}   the boxes the token's user may reach
 *   401 {"error": "..."}                                                   no, unknown or revoked token
 */

export const CLI_API_PATH = '/api/cli';
const BOXES_PATH = `${CLI_API_PATH}/boxes`;

const NO_TOKEN = 'Send an API token as "Authorization: Bearer byd_..."; make one on your profile page.';

export function createCliApiRoute(deps: { db: Db; identify: (req: IncomingMessage) => Promise<Identity> }) {
  return async (req: IncomingMessage, res: ServerResponse, { pathname }: URL): Promise<void> => {
    if (pathname !== BOXES_PATH) return sendJson(res, 404, { error: `No such CLI endpoint; the CLI uses GET ${BOXES_PATH}.` });
    if (req.method !== 'GET') return sendJson(res, 405, { error: `Use GET ${BOXES_PATH}.` }, { allow: 'GET' });
    const identity = await deps.identify(req);
    const refuse = (error: string) => sendJson(res, 401, { error }, { 'www-authenticate': 'Bearer' });
    if (!identity.user) return refuse(identity.refusal === 'no-credentials' ? NO_TOKEN : identityRefusalMessage(identity.refusal));
    if (identity.via !== 'api-token') return refuse(NO_TOKEN); // a browser session is no token: the CLI API takes tokens only
    sendJson(res, 200, await listCliBoxes(deps.db, identity.user, identity.tokenId));
  };
}

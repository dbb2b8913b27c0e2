import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticateApiToken } from '../access-keys/api-tokens';
import { recordAudit } from '../audit/audit';
import { reachableBoxes } from '../boxes/access';
import type { Db } from '../db/client';
import { logger } from '../log';
import type { ConnectBox } from './snippets';

/**
 * The CLI's REST endpoint (`boxyard connect`), authenticated by a personal API token instead of a session cookie:
 *
 *   GET /api/cli/boxes   Authorization: Bearer byd_...
 *   200 {"user": {"email"}, "boxes": [{"name", "host", "port", "user"}]}   the boxes the token's user may reach
 *   401 {"error": "..."}                                                   no, unknown or revoked token
 */

export interface CliBoxesResponse {
  user: { email: string };
  boxes: ConnectBox[];
}

const BOXES_PATH = '/api/cli/boxes';

function sendJson(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

function unauthorized(res: ServerResponse, error: string): void {
  sendJson(res, 401, { error }, { 'www-authenticate': 'Bearer' });
}

function bearerToken(req: IncomingMessage): string | null {
  const match = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
  return match ? match[1]! : null;
}

async function listBoxes(db: Db, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const token = bearerToken(req);
  if (!token) return unauthorized(res, 'Send an API token as "Authorization: Bearer byd_..."; make one on your profile page.');
  const check = await authenticateApiToken(db, token);
  if (!check.ok) {
    return unauthorized(
      res,
      check.reason === 'revoked'
        ? 'This API token was revoked; make a new one on your profile page.'
        : 'This API token is not known to this dashboard (mistyped, or made on another dashboard); make one on your profile page.',
    );
  }
  const boxes = await db.box.findMany({
    where: reachableBoxes(check.user),
    select: { name: true, host: true, port: true, sshUser: true },
    orderBy: { name: 'asc' },
  });
  await recordAudit(db, { actor: check.user, action: 'cli.boxes', detail: { tokenId: check.tokenId, boxes: boxes.length }, result: 'ok' });
  const body: CliBoxesResponse = {
    user: { email: check.user.email },
    boxes: boxes.map((box) => ({ name: box.name, host: box.host, port: box.port, user: box.sshUser })),
  };
  sendJson(res, 200, body);
}

/** Handles every /api/cli/ request (wired in server/http.ts). */
export function createCliApiHandler(db: Db): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const { pathname } = new URL(req.url ?? '/', 'http://dashboard');
    if (pathname !== BOXES_PATH) return sendJson(res, 404, { error: `No such CLI endpoint; the CLI uses GET ${BOXES_PATH}.` });
    if (req.method !== 'GET') return sendJson(res, 405, { error: `Use GET ${BOXES_PATH}.` }, { allow: 'GET' });
    try {
      await listBoxes(db, req, res);
    } catch (error) {
      logger.error({ err: error }, 'CLI API request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'Something went wrong on the dashboard; the error is in its log.' });
    }
  };
}

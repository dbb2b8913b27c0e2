import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './responses';

/** Bodies of better-auth's routes (sign-in, update-user, device login): small JSON objects. */
export const MAX_AUTH_BODY_BYTES = 64 * 1024;

/**
 * A route that reads its body whole with no limit of its own (better-auth's node handler does): refuses a body over
 * `maxBytes`, or one whose size it cannot know beforehand (chunked), before the route reads a byte of it. Node reads
 * no more than Content-Length bytes as the body, so checking the header bounds what the route gets.
 */
export function withBodyLimit(maxBytes: number, handle: (req: IncomingMessage, res: ServerResponse) => unknown) {
  return (req: IncomingMessage, res: ServerResponse): unknown => {
    const length = req.headers['content-length'];
    if (length === undefined && req.headers['transfer-encoding'] !== undefined) {
      sendJson(res, 411, { message: `Send the request with a Content-Length (at most ${maxBytes / 1024} KiB).` });
    } else if (Number(length ?? 0) > maxBytes) {
      sendJson(res, 413, { message: `A request here is at most ${maxBytes / 1024} KiB; send less.` });
    } else {
      return handle(req, res);
    }
  };
}

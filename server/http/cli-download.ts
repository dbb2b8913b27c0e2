import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError } from '../errors';
import { shellQuote } from '../ssh/quote';
import { sendText } from './responses';

/**
 * The laptop CLI, served from the folder scripts/build-cli.mjs writes (paths in lib/cli-distribution.ts):
 *
 *   GET /cli/boxyard.mjs          the bundled CLI (needs only Node >= 20); ETag is its SHA-256
 *   GET /cli/boxyard.mjs.sha256   "<sha256>  boxyard.mjs", computed when it was built
 *   GET /cli/install.sh           a POSIX sh installer with this dashboard's URL filled in (cli-install.sh)
 *
 * Public, with no sign-in: the CLI and the installer hold no secret (a token is given to the CLI by its user), and a
 * laptop without the CLI has no token to send yet.
 */

/** Where scripts/build-cli.mjs writes by default (this file's own location is kept in the server bundle). */
export const BUILT_CLI_DIR = fileURLToPath(new URL('../../.next-server/cli/', import.meta.url));
const CLI_FILE = 'boxyard.mjs';

type HttpHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface CliDownloadRoutes {
  file: HttpHandler;
  sha256: HttpHandler;
  install: HttpHandler;
}

export function createCliDownloadRoutes(deps: { cliDir: string; publicUrl: string }): CliDownloadRoutes {
  // The script appends each route's path: the dashboard's URL with no trailing slash (a path below the origin stays).
  const dashboard = deps.publicUrl.replace(/\/+$/, '');

  /** The build's `sha256sum` line and hash, read per request: a rebuild is served without a restart. */
  async function published(): Promise<{ line: string; sha256: string }> {
    const line = await readFile(path.join(deps.cliDir, `${CLI_FILE}.sha256`), 'utf8').catch(() => {
      throw new AppError('NOT_FOUND', 'This dashboard has no CLI build; its admin runs scripts/install.sh (or node scripts/build-cli.mjs).');
    });
    return { line, sha256: line.split(' ')[0]! };
  }

  return {
    async file(req, res) {
      const { sha256 } = await published();
      const etag = `"${sha256}"`;
      // Revalidated on every use (the URL stays the same across builds), downloaded again only when the build changed.
      const headers = { etag, 'cache-control': 'no-cache' };
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, headers).end();
        return;
      }
      res.writeHead(200, { ...headers, 'content-type': 'text/javascript; charset=utf-8' });
      // A rebuild between reading the hash and the file (each renamed into place whole) gives a mismatch that
      // install.sh refuses, asking to try again: never a half-written file.
      createReadStream(path.join(deps.cliDir, CLI_FILE))
        .on('error', () => res.destroy())
        .pipe(res);
    },
    async sha256(_req, res) {
      sendText(res, 200, (await published()).line, { 'cache-control': 'no-cache' });
    },
    async install(_req, res) {
      const template = await readFile(new URL('./cli-install.sh', import.meta.url), 'utf8');
      const script = template.replace('__BOXYARD_DASHBOARD__', shellQuote(dashboard));
      sendText(res, 200, script, { 'content-type': 'text/x-shellscript; charset=utf-8', 'cache-control': 'no-cache' });
    },
  };
}

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, REPO_DIR } from '../process';
import { until } from '../wait';
import { e2eAdmin } from './admin';

export interface FreshDashboard {
  url: string;
  stop(): Promise<void>;
}

/**
 * A second dashboard, as playwright.config.ts starts the first (the same production build, the same first admin),
 * on an empty data folder of its own: for a test that needs a dashboard nothing else has touched (the first run).
 */
export async function startFreshDashboard(): Promise<FreshDashboard> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'boxyard-e2e-fresh-'));
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['.next-server/main.mjs'], {
    cwd: REPO_DIR,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      BOXYARD_URL: url,
      BOXYARD_DATA_DIR: dataDir,
      BOXYARD_ADMIN_EMAIL: e2eAdmin.email,
      BOXYARD_ADMIN_PASSWORD: e2eAdmin.password,
      STATUS_INTERVAL_MS: '2000',
      LOG_LEVEL: 'warn',
      SIGNIN_ATTEMPTS_PER_MINUTE: '1000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let exit: number | null | undefined;
  const exited = new Promise<void>((resolve) => child.once('exit', (code) => ((exit = code), resolve())));
  await until(
    async () => {
      if (exit !== undefined) throw new Error(`the fresh dashboard exited (${exit}) before it was healthy`);
      return fetch(`${url}/api/health`).then((res) => res.ok, () => false);
    },
    'the fresh dashboard to answer /api/health',
    120_000,
  );
  return {
    url,
    async stop() {
      if (exit === undefined) child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

import { defineConfig } from '@playwright/test';

/**
 * Browser tests run Debian's Chromium (Playwright cannot download browsers here) against a dashboard
 * started on a throw-away SQLite data folder. `next build` must have run first (scripts/test.sh does).
 */
const port = Number(process.env.E2E_PORT ?? 3210);
const dataDir = process.env.E2E_DATA_DIR ?? `/tmp/boxyard-e2e-${process.pid}`;
import { e2eAdmin } from './testing/helpers/e2e/admin';

export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 30_000 },
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'test-results/html' }]],
  outputDir: 'test-results/artifacts',
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    },
  },
  webServer: {
    command: `rm -rf ${dataDir} && node scripts/build-server.mjs --if-stale && node .next-server/main.mjs`,
    url: `http://127.0.0.1:${port}/api/health`,
    timeout: 120_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    env: {
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      BOXYARD_DATA_DIR: dataDir,
      BOXYARD_ADMIN_EMAIL: e2eAdmin.email,
      BOXYARD_ADMIN_PASSWORD: e2eAdmin.password,
      // Fast status checks so a stopped sshd shows up within seconds.
      STATUS_INTERVAL_MS: '2000',
      SSH_CONNECT_TIMEOUT_MS: '5000',
      LOG_LEVEL: 'warn',
      // Tests sign in many times from one address.
      SIGNIN_ATTEMPTS_PER_MINUTE: '1000',
      // Previews on their own origin (e2e/previews.spec.ts); Chromium resolves *.localhost to this machine.
      BOXYARD_PREVIEW_DOMAIN: 'preview.localhost',
    },
  },
});

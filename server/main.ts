import { createServer } from 'node:http';
import next from 'next';
import { loadEnv } from './env';
import { createApiHandler } from './http';
import { logger } from './log';
import { startServices, stopServices } from './services';
import { createTerminalUpgradeHandler } from './terminals/ws';

/** The dashboard process: API routes and the terminal WebSocket here, pages through Next. */
async function main() {
  process.env.NEXT_TELEMETRY_DISABLED ??= '1'; // no network calls from a dashboard that may run offline
  const env = loadEnv();
  const { services, firstAdmin } = await startServices(env);
  const api = createApiHandler(services);

  const server = createServer();
  const app = next({ dev: env.NODE_ENV === 'development', hostname: env.HOST, port: env.PORT, httpServer: server, dir: process.cwd() });
  await app.prepare();
  const handlePage = app.getRequestHandler();
  server.on('request', (req, res) => {
    if (!api(req, res)) void handlePage(req, res);
  });
  // Only the terminal path: Next adds its own 'upgrade' listener (dev HMR) and other paths are left to it.
  const terminalUpgrade = createTerminalUpgradeHandler(services);
  server.on('upgrade', (req, socket, head) => {
    terminalUpgrade(req, socket, head);
  });

  await new Promise<void>((resolve) => server.listen(env.PORT, env.HOST, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  const url = env.BOXYARD_URL ?? `http://${env.HOST}:${port}`;
  logger.info({ url, database: env.databaseUrl.startsWith('file:') ? 'sqlite' : 'postgresql' }, 'Boxyard is listening');
  console.log(`\nBoxyard is running at ${url}`);
  if (firstAdmin) {
    console.log(`First start: sign in as ${firstAdmin.email}` + (firstAdmin.generated ? ` with the password ${firstAdmin.password}` : ' with BOXYARD_ADMIN_PASSWORD'));
    console.log('(This is printed once. Change it on the Users page after signing in.)\n');
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    server.close();
    await stopServices(services); // ends every terminal first, telling attached browsers (close 1012)
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

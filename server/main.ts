import { internalUrl, loadEnv } from './env';
import { createDashboardServer, listenDashboard } from './http/server';
import { logger } from './log';
import { startServices, stopServices } from './services';

/** The dashboard process: the services, then one HTTP server for the edge's routes and Next's pages. */
async function main() {
  process.env.NEXT_TELEMETRY_DISABLED ??= '1'; // no network calls from a dashboard that may run offline
  const env = loadEnv();
  const dashboard = createDashboardServer(env);
  const { services, firstAdmin } = await startServices(env);
  const port = await listenDashboard(dashboard, services);
  await services.cluster.advertise(internalUrl(env, port));
  const { server } = dashboard;
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

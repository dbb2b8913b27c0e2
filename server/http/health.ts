import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Membership } from '../cluster/registry';
import type { Db } from '../db/client';
import { sendJson } from './responses';

/** A database that does not answer `SELECT 1` within this long is not reachable, as far as a load balancer cares. */
const DATABASE_TIMEOUT_MS = 2_000;

/**
 * GET /api/health for load balancers: 200 `{ ok: true }` only when this process can serve (its database answers and,
 * with several processes, its registration is current: the others count it as live); else 503 with the reason.
 * It says nothing else (no version, no counts): it is unauthenticated.
 */
export interface HealthDeps {
  db: Db;
  cluster: Pick<Membership, 'heartbeatCurrent'>;
}

export function createHealthRoute(services: HealthDeps) {
  return async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const reason = await unready(services);
    if (reason) sendJson(res, 503, { ok: false, error: reason });
    else sendJson(res, 200, { ok: true });
  };
}

async function unready({ db, cluster }: HealthDeps): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), DATABASE_TIMEOUT_MS);
  });
  const answered = await Promise.race([db.$queryRaw`SELECT 1`.then(() => 'ok' as const, () => 'failed' as const), timeout]).finally(() => clearTimeout(timer));
  if (answered === 'timeout') return `The database did not answer within ${DATABASE_TIMEOUT_MS / 1000} s.`;
  if (answered === 'failed') return 'The database is not reachable.';
  // Stopped or cut off from the registry: the other processes have taken (or are taking) its boxes.
  if (!cluster.heartbeatCurrent()) return 'This dashboard process is not registered with the others (stopping, or its heartbeat is late).';
  return null;
}

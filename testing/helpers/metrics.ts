// Shared by the metrics integration tests: the real services in-process (no HTTP: the API is not needed), and a
// MetricsService on them with short intervals and windows, sampling only the boxes a test names; and a seeded
// database for the tests that need no SSH.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LabBox } from '../lab/lab';
import type { SessionUser } from '../../server/boxes/access';
import { createBox } from '../../server/boxes/boxes';
import { SecretBox } from '../../server/crypto/secret-box';
import { createDb, type Db } from '../../server/db/client';
import { applyMigrations } from '../../server/db/migrate';
import { loadEnv } from '../../server/env';
import { startServices, stopServices, type Services } from '../../server/services';
import { createUser } from '../../server/users/users';
import { loadCompiledSamplers } from '../../server/metrics/compiled-sampler';
import type { Sample } from '../../server/metrics/parse';
import { MetricsService, type MetricsServiceOptions } from '../../server/metrics/service';

export interface MetricsBackend {
  services: Services;
  admin: SessionUser;
  addBox(name: string, box: LabBox, extra?: { tags?: string[] }): Promise<{ id: string; name: string }>;
  stop(): Promise<void>;
}

export async function startMetricsBackend(env: Record<string, string> = {}): Promise<MetricsBackend> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-metrics-'));
  const { services } = await startServices(loadEnv({ BOXYARD_DATA_DIR: dataDir, BOXYARD_ADMIN_PASSWORD: 'metrics-test-password', ...env }), { pollStatus: false, runJobs: false });
  const row = await services.db.user.findFirstOrThrow({ where: { role: 'admin' } });
  const admin: SessionUser = { id: row.id, email: row.email, name: row.name, role: 'admin' };
  return {
    services,
    admin,
    async addBox(name, box, extra = {}) {
      const created = await createBox(services.db, services.secrets, admin, {
        name, host: box.host, port: box.port, sshUser: 'dev', tags: extra.tags ?? [], notes: '', ownerId: admin.id, memberIds: [], auth: { method: 'dashboard-key' },
      });
      return { id: created.id, name: created.name };
    },
    async stop() {
      await stopServices(services);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function testMetrics(backend: { services: Services }, options: Partial<MetricsServiceOptions> = {}): MetricsService {
  const { db, remote, hostRemote, terminals, tunnels } = backend.services;
  return new MetricsService({
    db,
    remote,
    hostRemote,
    terminals,
    tunnels,
    tickMs: 250,
    rollupMs: 3_600_000,
    settingsOverride: { slowIntervalS: 1, fastIntervalS: 0.5, idleWindowS: 3, idleCpuPct: 10, suspendWarningS: 1 },
    ...options,
    sampler: { backoffInitialMs: 200, backoffMaxMs: 2_000, reconcileMs: 60_000, compiled: loadCompiledSamplers(), ...options.sampler },
  });
}

/** A derived sample with plain figures (rollup and view tests): CPU as given, the rest fixed unless overridden. */
export function fakeSample(at: number, cpuPct: number | null, extra: Partial<Sample> = {}): Sample {
  return {
    at,
    cpuPct,
    memUsedBytes: 100,
    memTotalBytes: 1000,
    load1: 0.5,
    diskUsedPct: null,
    netRxBps: 10,
    netTxBps: 20,
    sessions: 0,
    containers: 0,
    lastPid: 1,
    containerCpuPct: [],
    hostCpuPct: null,
    ...extra,
  };
}

/**
 * A new migrated database (from testDatabases) with a lead (admin) and a way to add plain boxes to it: the seed of
 * the metrics tests that need no SSH.
 */
export async function seededMetricsDatabase(newDatabase: () => Promise<string>): Promise<{ db: Db; admin: SessionUser; addBox: (name: string, tags?: string[]) => Promise<string> }> {
  const url = await newDatabase();
  await applyMigrations(url);
  const db = createDb(url);
  const user = await createUser(db, { email: 'lead@example.com', name: 'lead', password: 'a-long-password', role: 'admin' });
  const admin: SessionUser = { id: user.id, email: user.email, name: user.name, role: 'admin' };
  const secrets = new SecretBox(Buffer.alloc(32, 7));
  const addBox = async (name: string, tags: string[] = []) =>
    (await createBox(db, secrets, admin, { name, host: '127.0.0.1', port: 22, sshUser: 'dev', tags, notes: '', ownerId: user.id, memberIds: [], auth: { method: 'dashboard-key' } })).id;
  return { db, admin, addBox };
}

import { mkdirSync } from 'node:fs';
import type { Registry } from 'prom-client';
import { createAuth, type Auth } from './auth/auth';
import { identityProviderProblem } from './auth/oidc';
import { Lease } from './cluster/lease';
import { NotifyChannel } from './cluster/notify';
import { ProcessRegistry, SingleProcess, type Membership } from './cluster/registry';
import { TerminalSessionDirectory } from './cluster/terminal-sessions';
import { BoxRemote } from './boxes/remote';
import { HostRemote } from './hosts/remote';
import { StatusPoller } from './boxes/status-poller';
import { SecretBox, loadSecretKey } from './crypto/secret-box';
import { createDb, dbProvider, type Db } from './db/client';
import { applyMigrations } from './db/migrate';
import type { Env } from './env';
import { isAppError } from './errors';
import { DbJobQueue } from './jobs/queue';
import { JobRunner } from './jobs/runner';
import { logger } from './log';
import { loadCompiledSamplers } from './metrics/compiled-sampler';
import { createPrometheusRegistry, registerDashboardMetrics, Timings } from './metrics/prometheus';
import { MetricsService } from './metrics/service';
import { resumeOnDemand } from './metrics/suspend';
import { dockerRecipe } from './provision/docker-recipe';
import { mountApplyRecipe } from './mounts/apply-recipe';
import { measureRecipe } from './mounts/measure';
import { vmRecipes } from './vms/recipes';
import { vmLifecycleActions } from './vms/auto-suspend-actions';
import { wakeOnDemand, type SuspendedBoxes, type WakeOptions } from './vms/wake';
import type { SessionUser } from './boxes/access';
import { AccessWatch } from './boxes/access-watch';
import { ensureDashboardKey } from './settings/dashboard-key';
import { SshPool } from './ssh/pool';
import { TerminalManager } from './terminals/manager';
import { TunnelService } from './tunnels/service';
import { PreviewService } from './previews/service';
import { ensureFirstAdmin } from './users/users';

/** The dashboard's long-lived parts, created once at start-up and handed to every request. */
export interface Services {
  env: Env;
  db: Db;
  auth: Auth;
  secrets: SecretBox;
  pool: SshPool;
  remote: BoxRemote;
  /** Remote actions on hypervisor hosts, like `remote` for boxes. */
  hostRemote: HostRemote;
  statusPoller: StatusPoller;
  /** Ends terminals and tunnels whose user lost access to their box (rechecked every 2 s). */
  access: AccessWatch;
  terminals: TerminalManager;
  /** Laptop TCP streams to box ports through the pool (`boxyard proxy`). */
  tunnels: TunnelService;
  /** Box ports opened in the browser through the dashboard (server/previews). */
  previews: PreviewService;
  jobs: JobRunner;
  /** Box metrics, idle status and auto-suspend (server/metrics). */
  metrics: MetricsService;
  /** Held by the one dashboard process that runs the suspend policies and writes metric history. */
  fleetLease: Lease;
  /** The dashboard processes on this database (PostgreSQL; on SQLite this one alone): they share the boxes to sample. */
  cluster: Membership;
  /** What /metrics serves: this process, its boxes and the dashboard's own state (server/metrics/prometheus.ts). */
  prometheus: Registry;
  /** tRPC call and job run durations, observed as they happen into `prometheus`. */
  timings: Timings;
  /** Several processes on PostgreSQL: which process holds which terminal (a terminal WebSocket is forwarded there); null on SQLite. */
  terminalDirectory: TerminalSessionDirectory | null;
  dashboardPublicKey: string;
}

export interface Started {
  services: Services;
  /** Set only on the very first start: the credentials to print once. */
  firstAdmin: { email: string; password: string; generated: boolean } | null;
}

export async function startServices(env: Env, options: { pollStatus?: boolean; runJobs?: boolean; sampleMetrics?: boolean } = {}): Promise<Started> {
  mkdirSync(env.dataDir, { recursive: true, mode: 0o700 });
  const applied = await applyMigrations(env.databaseUrl);
  if (applied.length) logger.info({ applied }, 'database migrations applied');

  const db = createDb(env.databaseUrl);
  // First: a second live process with this runner id is refused before it does anything.
  const onPostgres = dbProvider(env.databaseUrl) === 'postgres';
  const cluster = onPostgres ? new ProcessRegistry(db, { runnerId: env.JOB_RUNNER_ID, databaseUrl: env.databaseUrl }) : new SingleProcess(env.JOB_RUNNER_ID);
  await cluster.start().catch(async (error: unknown) => {
    await db.$disconnect();
    throw error;
  });
  const secrets = new SecretBox(loadSecretKey(env.dataDir, env.BOXYARD_SECRET_KEY));
  const dashboardKey = await ensureDashboardKey(db, secrets);
  const firstAdmin = await ensureFirstAdmin(db, { email: env.BOXYARD_ADMIN_EMAIL, password: env.BOXYARD_ADMIN_PASSWORD }).catch(
    // Two processes starting on one empty PostgreSQL database: the other one created the admin.
    (error: unknown) => (isAppError(error, 'CONFLICT') ? null : Promise.reject(error)),
  );
  const provider = onPostgres ? 'postgresql' : 'sqlite';
  const auth = createAuth({ db, env, provider, secret: secrets.derive('better-auth-session') });
  // Said at start-up, not only at the first sign-in; a provider that is down does not stop the dashboard (passwords work).
  if (env.oidc) void identityProviderProblem(env.oidc).then((problem) => (problem ? logger.warn(problem) : logger.info({ issuer: env.oidc?.issuer }, 'single sign-on ready')));

  const pool = new SshPool({
    connectTimeoutMs: env.SSH_CONNECT_TIMEOUT_MS,
    commandTimeoutMs: env.SSH_COMMAND_TIMEOUT_MS,
    maxChannelsPerConnection: env.SSH_MAX_CHANNELS_PER_BOX,
  });
  pool.start();
  const remote = new BoxRemote({ db, pool, secrets, dashboardPrivateKey: dashboardKey.privateKey });
  const hostRemote = new HostRemote({ db, pool, secrets, dashboardPrivateKey: dashboardKey.privateKey });
  const statusPoller = new StatusPoller({ db, remote, intervalMs: env.STATUS_INTERVAL_MS, owns: (boxId) => cluster.owns(boxId) });
  if (options.pollStatus !== false) statusPoller.start();
  const prometheus = createPrometheusRegistry();
  const timings = new Timings(prometheus);
  const jobs = new JobRunner({
    db,
    remote,
    hostRemote,
    queue: new DbJobQueue(db, { runnerId: env.JOB_RUNNER_ID, leaseMs: env.JOB_LEASE_MS, provider: dbProvider(env.databaseUrl) }),
    recipes: [dockerRecipe, ...vmRecipes, mountApplyRecipe, measureRecipe],
    concurrency: env.JOB_CONCURRENCY,
    stepAttempts: env.JOB_STEP_ATTEMPTS,
    retryDelayMs: 2_000,
    heartbeatMs: Math.round(env.JOB_LEASE_MS / 3),
    pollMs: 2_000,
    commandTimeoutMs: env.SSH_COMMAND_TIMEOUT_MS,
    onFinished: timings.jobFinished,
  });
  if (options.runJobs !== false) await jobs.start();
  // Auto-suspend and waking act through VM lifecycle jobs, so they come after the job runner.
  const autoSuspendActions = vmLifecycleActions({ db, jobs, hostRemote });
  const autoSuspended: SuspendedBoxes = {
    resumeOnDemand: (boxId, actor) => resumeOnDemand({ db, resumeBox: autoSuspendActions.resumeBox }, boxId, actor),
  };
  const wake = (boxId: string, actor: SessionUser, options?: WakeOptions) => wakeOnDemand({ db, jobs, hostRemote }, autoSuspended, boxId, actor, options);
  const access = new AccessWatch();
  access.start();
  const terminalDirectory = cluster instanceof ProcessRegistry ? new TerminalSessionDirectory(db, cluster, secrets.derive('cluster-internal')) : null;
  terminalDirectory?.start();
  const terminals = new TerminalManager({
    db,
    remote,
    access,
    directory: terminalDirectory ?? undefined,
    idleTimeoutMs: env.TERMINAL_IDLE_TIMEOUT_MS,
    bufferBytes: env.TERMINAL_BUFFER_BYTES,
    wakeBox: (boxId, actor) => wake(boxId, actor),
  });
  terminals.start();
  const tunnels = new TunnelService({
    db,
    remote,
    access,
    wakeBox: (boxId, actor, onWaking) => wake(boxId, actor, { reason: 'a tunnel was opened', onWaking }),
  });
  tunnels.start();
  const previews = new PreviewService({
    db,
    remote,
    access,
    wakeBox: (boxId, actor, onWaking) => wake(boxId, actor, { reason: 'a preview was opened', onWaking }),
    maxBodyBytes: env.PREVIEW_MAX_BODY_BYTES,
    timeoutMs: env.PREVIEW_TIMEOUT_MS,
    key: secrets.derive('preview-cookies'),
  });
  previews.start();
  // Off by default where status polling is off (tests): a sampler holds one SSH channel per box.
  const compiled = loadCompiledSamplers();
  if (compiled.length < 2) {
    logger.warn({ built: compiled.map((c) => c.arch) }, 'compiled box sampler missing for some architectures (run scripts/build-sampler.sh); those boxes use the bash sampler');
  }
  // Several dashboards on one PostgreSQL: one of them (the lease holder) runs the policies and writes history.
  const fleetLease = new Lease(db, dbProvider(env.databaseUrl), 'fleet-policies');
  const metrics = new MetricsService({
    db,
    remote,
    hostRemote,
    terminals,
    tunnels,
    sampler: { compiled },
    leads: () => fleetLease.held(),
    // Each box sampled by one process; the others serve its samples from what it publishes.
    membership: cluster,
    channel: onPostgres ? new NotifyChannel(env.databaseUrl, 'boxyard_metrics', env.JOB_RUNNER_ID) : null,
    ...autoSuspendActions,
  });
  if (options.sampleMetrics ?? options.pollStatus !== false) {
    await fleetLease.start();
    await metrics.start();
  }
  registerDashboardMetrics(prometheus, { db, metrics, runnerId: env.JOB_RUNNER_ID, pool, terminals, tunnels, previews, leases: [fleetLease], cluster });

  return {
    services: { env, db, auth, secrets, pool, remote, hostRemote, statusPoller, access, terminals, tunnels, previews, jobs, metrics, fleetLease, cluster, prometheus, timings, terminalDirectory, dashboardPublicKey: dashboardKey.publicKey },
    firstAdmin,
  };
}

export async function stopServices(services: Services): Promise<void> {
  await services.metrics.stop();
  await services.fleetLease.stop();
  // Its boxes go to the other processes at their next heartbeat.
  await services.cluster.stop();
  // First: it tells attached browsers the dashboard is restarting and closes shells while the pool still runs.
  await services.terminals.stop();
  services.terminalDirectory?.stop();
  // Likewise: laptops' tunnels end with the service-restart close code, and are audited, before the pool closes.
  await services.tunnels.stop();
  await services.previews.stop();
  await services.access.stop();
  // Running jobs are interrupted and handed back to the queue (they resume at the next start), while the pool runs.
  await services.jobs.stop();
  await services.statusPoller.stop();
  await services.pool.stop();
  await services.db.$disconnect();
}

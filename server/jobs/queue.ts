import type { Actor } from '../audit/audit';
import { isUniqueViolation, type Db, type DbProvider } from '../db/client';
import { activeJobStatuses, isActiveJobStatus, type ActiveJobStatus, type FinishedJobStatus } from '../../lib/job-status';

/**
 * Scheduling of jobs: which runner runs which job, and when. Only this is behind the JobQueue interface; the job's
 * record (Job row), its steps, logs and state stay in our own tables whatever the queue is, so steps, recipes, the
 * runner and the UI do not change when the queue does.
 *
 * DbJobQueue keeps the queue in the Job table itself (status + lease columns) and works the same on SQLite and
 * PostgreSQL. A pg-boss implementation could replace it for a fleet of dashboards on PostgreSQL: enqueue writes the
 * Job row and sends { jobId } to a pg-boss queue named after the kind; claim fetches one and marks the row running;
 * heartbeat keeps reporting cancelRequested from our row (pg-boss's own expiry then plays the lease); finish marks the
 * pg-boss job completed or failed and the row finished; release fails it for a retry; cancel cancels it in pg-boss
 * while queued and sets the row's flag while running.
 */

/** What a job runs on; the name is kept so the job's record reads well after the box or host is gone. */
export interface JobTargetRef {
  id: string;
  name: string;
}

/** A job runs on a box, on a hypervisor host, or on both (a VM that is also a box); at least one is set. */
export interface NewJob {
  kind: string;
  box: JobTargetRef | null;
  host: JobTargetRef | null;
  /** The VM the job acts on (Job.vmId), when it acts on one. */
  vmId?: string | null;
  /**
   * Work only one job may do at a time (e.g. "vm:<hostId>:<vmId>"): while a queued or running job holds the key,
   * enqueue records nothing and returns that job. Atomic: of many enqueues at once, exactly one gets the key (a
   * unique index; the job lets go of it when it finishes).
   */
  exclusiveKey?: string | null;
  createdBy: Actor;
  /** Already validated by the recipe's schema. */
  params: unknown;
  /** The recipe's step names: rows are created up front, so a queued job already shows its plan. */
  stepNames: readonly string[];
}

export interface ClaimedJob {
  id: string;
  kind: string;
  box: JobTargetRef | null;
  host: JobTargetRef | null;
  createdBy: Actor;
  /** JSON */
  params: string;
  /** JSON */
  state: string;
  cancelRequested: boolean;
  /**
   * Proof of this claim, passed back to heartbeat/finish/release: a runner whose lease was taken over (it stalled
   * longer than the lease) can no longer write the job's outcome.
   */
  claim: number;
}

/** The queued or running job that holds an exclusive key. */
export interface ActiveJob {
  id: string;
  kind: string;
  status: ActiveJobStatus;
  createdByEmail: string | null;
}

/** enqueue's refusal of a job whose exclusive key another job holds. */
export class ExclusiveKeyHeld extends Error {
  constructor(
    readonly key: string,
    readonly holder: ActiveJob,
  ) {
    super(`job ${holder.id} (${holder.kind}, ${holder.status}) holds "${key}"`);
    this.name = 'ExclusiveKeyHeld';
  }
}

export type JobOutcome = { status: 'succeeded' } | { status: Exclude<FinishedJobStatus, 'succeeded'>; error: string };

export type CancelOutcome =
  /** It was queued: it will never run. */
  | 'cancelled'
  /** It is running: its runner interrupts it (at once when it runs in this process, else at its next heartbeat). */
  | 'requested'
  | 'already-finished'
  | 'not-found';

export interface JobQueue {
  /**
   * How long a claim or heartbeat holds a job. A runner stops working on a job once this long has passed, by its own
   * clock, since it sent its last claim or heartbeat that went through: by then another runner may have taken it over.
   */
  readonly leaseMs: number;
  /** Called once before the first claim. */
  start(): Promise<void>;
  /** Records the job as queued and returns its id; throws ExclusiveKeyHeld when another job holds its exclusive key. */
  enqueue(job: NewJob): Promise<string>;
  /**
   * Takes the oldest runnable job (queued, or running under an expired lease) for this runner, except those it runs
   * already (`running`: their lease may have lapsed during a hiccup; the next heartbeat renews it). Atomic: two
   * runners, in one process or many, never get the same job. Null when there is nothing to run.
   */
  claim(running: readonly string[]): Promise<ClaimedJob | null>;
  /** Extends the lease. `held: false` means the job is no longer ours (taken over, or finished): stop working on it. */
  heartbeat(job: ClaimedJob): Promise<{ held: boolean; cancelRequested: boolean }>;
  /** Records the outcome; false when the lease was lost meanwhile (nothing written). */
  finish(job: ClaimedJob, outcome: JobOutcome): Promise<boolean>;
  /** Gives a running job back (this runner stops): any runner may claim it at once and resume it. */
  release(job: ClaimedJob): Promise<void>;
  cancel(jobId: string): Promise<CancelOutcome>;
}

export interface DbJobQueueOptions {
  /**
   * Names this runner in leases. Keep it stable across restarts of one dashboard (e.g. its host name): at start the
   * runner takes back at once the jobs its previous life held, instead of waiting for their leases to expire. Two
   * dashboards sharing a database must use different ids.
   */
  runnerId: string;
  leaseMs: number;
  /**
   * Whose clock sets and judges lease expiries. On PostgreSQL the database's (`now()`), so dashboards on machines whose
   * clocks disagree still never hold one job at once; on SQLite (one dashboard, on the file's machine) this process's.
   */
  provider: DbProvider;
  /** This process's clock (ms since the epoch) where the provider's clock is not the database's; Date.now by default. */
  now?: () => number;
}

/** Lost compare-and-set races in a row before claim() gives up until the runner's next poll. */
const CLAIM_RACES = 5;
/** Times enqueue tries again when the job holding its exclusive key finished between the insert and the look. */
const ENQUEUE_RACES = 5;

/**
 * Records a job as queued (DbJobQueue's enqueue, for code that queues a job without running any, such as a job that
 * queues its follow-up); throws ExclusiveKeyHeld when another job holds its exclusive key.
 */
export async function enqueueJob(db: Db, job: NewJob): Promise<string> {
  for (let race = 0; ; race++) {
    try {
      return await insertJob(db, job);
    } catch (error) {
      // The unique index on exclusiveKey refused the row: another job holds the key.
      if (!job.exclusiveKey || !isUniqueViolation(error) || race >= ENQUEUE_RACES) throw error;
      const holder = await db.job.findUnique({
        where: { exclusiveKey: job.exclusiveKey },
        select: { id: true, kind: true, status: true, createdByEmail: true },
      });
      if (holder && isActiveJobStatus(holder.status)) throw new ExclusiveKeyHeld(job.exclusiveKey, { ...holder, status: holder.status });
      // Gone since, or finished without letting go (its status was written by hand): free the key and try again.
      // Only a finished holder is cleared, so two enqueues doing this at once still let one job in.
      if (holder) await db.job.updateMany({ where: { id: holder.id, status: { notIn: [...activeJobStatuses] } }, data: { exclusiveKey: null } });
    }
  }
}

async function insertJob(db: Db, job: NewJob): Promise<string> {
  const created = await db.job.create({
    data: {
      kind: job.kind,
      boxId: job.box?.id ?? null,
      boxName: job.box?.name ?? null,
      hostId: job.host?.id ?? null,
      hostName: job.host?.name ?? null,
      vmId: job.vmId ?? null,
      exclusiveKey: job.exclusiveKey ?? null,
      createdById: job.createdBy.id,
      createdByEmail: job.createdBy.email,
      params: JSON.stringify(job.params),
      steps: { create: job.stepNames.map((name, index) => ({ index, name })) },
    },
    select: { id: true },
  });
  return created.id;
}

export class DbJobQueue implements JobQueue {
  readonly leaseMs: number;

  constructor(
    private readonly db: Db,
    private readonly options: DbJobQueueOptions,
  ) {
    this.leaseMs = options.leaseMs;
  }

  async start(): Promise<void> {
    // Running jobs still leased to this runner id were held by this dashboard before it restarted (or crashed):
    // nobody runs them now, so make them claimable at once.
    await this.db.job.updateMany({
      where: { status: 'running', leaseOwner: this.options.runnerId },
      data: { leaseExpiresAt: await this.leaseClock() },
    });
  }

  /** The time leases are set and judged by (see DbJobQueueOptions.provider). */
  private async leaseClock(): Promise<Date> {
    if (this.options.provider === 'sqlite') return new Date((this.options.now ?? Date.now)());
    const [row] = await this.db.$queryRaw<{ ms: number }[]>`SELECT (EXTRACT(EPOCH FROM now()) * 1000)::float8 AS ms`;
    return new Date(row!.ms);
  }

  enqueue(job: NewJob): Promise<string> {
    return enqueueJob(this.db, job);
  }

  async claim(running: readonly string[]): Promise<ClaimedJob | null> {
    for (let race = 0; race < CLAIM_RACES; race++) {
      const now = await this.leaseClock();
      const runnable = { id: { notIn: [...running] }, OR: [{ status: 'queued' }, { status: 'running', leaseExpiresAt: { lte: now } }] };
      const candidate = await this.db.job.findFirst({
        where: runnable,
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        select: { id: true, attempts: true },
      });
      if (!candidate) return null;
      // Compare-and-set in one UPDATE: it matches only while the job is still runnable and nobody claimed it since we
      // looked (every claim bumps attempts). SQLite runs writes one at a time; PostgreSQL re-checks the WHERE of a
      // blocked UPDATE against the row the other transaction committed. Either way the loser updates 0 rows.
      const { count } = await this.db.job.updateMany({
        where: { AND: [{ id: candidate.id, attempts: candidate.attempts }, runnable] },
        data: {
          status: 'running',
          attempts: { increment: 1 },
          leaseOwner: this.options.runnerId,
          leaseExpiresAt: new Date(now.getTime() + this.leaseMs),
        },
      });
      if (count === 0) continue;
      await this.db.job.updateMany({ where: { id: candidate.id, startedAt: null }, data: { startedAt: now } });
      const row = await this.db.job.findUniqueOrThrow({ where: { id: candidate.id } });
      return {
        id: row.id,
        kind: row.kind,
        box: row.boxId ? { id: row.boxId, name: row.boxName ?? row.boxId } : null,
        host: row.hostId ? { id: row.hostId, name: row.hostName ?? row.hostId } : null,
        createdBy: { id: row.createdById, email: row.createdByEmail },
        params: row.params,
        state: row.state,
        cancelRequested: row.cancelRequested,
        claim: row.attempts,
      };
    }
    return null;
  }

  async heartbeat(job: ClaimedJob): Promise<{ held: boolean; cancelRequested: boolean }> {
    const now = await this.leaseClock();
    const { count } = await this.db.job.updateMany({
      where: this.held(job),
      data: { leaseExpiresAt: new Date(now.getTime() + this.leaseMs) },
    });
    if (count === 0) return { held: false, cancelRequested: false };
    const row = await this.db.job.findUnique({ where: { id: job.id }, select: { cancelRequested: true } });
    return { held: true, cancelRequested: row?.cancelRequested ?? false };
  }

  async finish(job: ClaimedJob, outcome: JobOutcome): Promise<boolean> {
    const { count } = await this.db.job.updateMany({
      where: this.held(job),
      data: {
        status: outcome.status,
        error: outcome.status === 'succeeded' ? null : outcome.error,
        finishedAt: await this.leaseClock(),
        leaseOwner: null,
        leaseExpiresAt: null,
        exclusiveKey: null,
      },
    });
    return count === 1;
  }

  async release(job: ClaimedJob): Promise<void> {
    await this.db.job.updateMany({ where: this.held(job), data: { leaseExpiresAt: await this.leaseClock() } });
  }

  async cancel(jobId: string): Promise<CancelOutcome> {
    const queued = await this.db.job.updateMany({
      where: { id: jobId, status: 'queued' },
      data: { status: 'cancelled', error: 'Cancelled before it started.', finishedAt: await this.leaseClock(), exclusiveKey: null },
    });
    if (queued.count === 1) return 'cancelled';
    const running = await this.db.job.updateMany({ where: { id: jobId, status: 'running' }, data: { cancelRequested: true } });
    if (running.count === 1) return 'requested';
    const exists = await this.db.job.findUnique({ where: { id: jobId }, select: { id: true } });
    return exists ? 'already-finished' : 'not-found';
  }

  private held(job: ClaimedJob) {
    return { id: job.id, status: 'running', leaseOwner: this.options.runnerId, attempts: job.claim };
  }
}

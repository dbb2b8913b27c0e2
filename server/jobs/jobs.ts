import type { Db } from '../db/client';
import { reachableBoxes, type SessionUser } from '../boxes/access';
import { AppError } from '../errors';
import type { JobEvents, JobLogLine, StepStatus } from './journal';
import { parseJobParams, type AnyRecipe, type LogLevel } from './recipe';
import { isFinishedJobStatus, type JobStatus } from '../../lib/job-status';

/** Read side of jobs for the API: lists, details with steps, and the live log. Access follows the job's box. */

export { jobStatuses, type JobStatus } from '../../lib/job-status';

/** What the read side needs: the database, and the recipes (the job runner's) to read each job's params with. */
export interface JobReadDeps {
  db: Db;
  jobs: { recipeOf(kind: string): AnyRecipe | undefined };
}

type JobRow = NonNullable<Awaited<ReturnType<Db['job']['findUnique']>>>;
type JobStepRow = NonNullable<Awaited<ReturnType<Db['jobStep']['findUnique']>>>;

/** The job's params as its recipe reads them (defaults filled in), or null with the reason they cannot be read. */
function readParams(deps: JobReadDeps, job: JobRow): { params: unknown; paramsProblem: string | null } {
  const recipe = deps.jobs.recipeOf(job.kind);
  if (!recipe) return { params: null, paramsProblem: `This dashboard does not know jobs of kind "${job.kind}" (made by another version?).` };
  const parsed = parseJobParams(recipe, job.params);
  return parsed.ok ? { params: parsed.params, paramsProblem: null } : { params: null, paramsProblem: parsed.problem };
}

function toJobView(deps: JobReadDeps, job: JobRow) {
  return {
    id: job.id,
    kind: job.kind,
    /** The recipe's title ("Docker provisioning"), or the kind when this dashboard does not know it. */
    title: deps.jobs.recipeOf(job.kind)?.title ?? job.kind,
    boxId: job.boxId,
    boxName: job.boxName,
    hostId: job.hostId,
    hostName: job.hostName,
    vmId: job.vmId,
    createdByEmail: job.createdByEmail,
    ...readParams(deps, job),
    status: job.status as JobStatus,
    error: job.error,
    cancelRequested: job.cancelRequested,
    attempts: job.attempts,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
  };
}
export type JobView = ReturnType<typeof toJobView>;

function toStepView(step: JobStepRow) {
  return {
    index: step.index,
    name: step.name,
    status: step.status as StepStatus,
    changed: step.changed,
    attempts: step.attempts,
    startedAt: step.startedAt,
    finishedAt: step.finishedAt,
    error: step.error,
  };
}

/**
 * Filter for the jobs a user may see. A job has no relation to its box (its record outlives the box), so a
 * developer's boxes are looked up first; jobs on a hypervisor host alone (a VM that is not a box) are the admins'.
 */
async function visibleJobs(db: Db, user: SessionUser) {
  if (user.role === 'admin') return {};
  const boxes = await db.box.findMany({ where: await reachableBoxes(db, user), select: { id: true } });
  return { boxId: { in: boxes.map((box) => box.id) } };
}

/**
 * The job if the user may see it: admins see every job (also of deleted boxes), developers the jobs of boxes they
 * may reach. Unknown and forbidden look the same.
 */
export async function getJobRow(db: Db, user: SessionUser, id: string): Promise<JobRow> {
  const job = await db.job.findFirst({ where: { id, ...(await visibleJobs(db, user)) } });
  if (!job) throw new AppError('NOT_FOUND', 'No such job, or you do not have access to it.');
  return job;
}

export async function listJobs(deps: JobReadDeps, user: SessionUser, filter: { boxId?: string; limit: number }): Promise<JobView[]> {
  const { db } = deps;
  const rows = await db.job.findMany({
    where: { AND: [filter.boxId ? { boxId: filter.boxId } : {}, await visibleJobs(db, user)] },
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: filter.limit,
  });
  return rows.map((row) => toJobView(deps, row));
}

/** The jobs page's filters; every one is optional, `startedBy: null` is the dashboard's own jobs (no user). */
export interface JobFilter {
  boxId?: string;
  kind?: string;
  status?: JobStatus;
  startedBy?: string | null;
}

/**
 * One page of the jobs the user may see, newest first, filtered; `cursor` is the last job of the page before (keyset
 * paging: a job queued meanwhile never shifts a later page).
 */
export async function pageJobs(deps: JobReadDeps, user: SessionUser, query: JobFilter & { cursor?: string; limit: number }) {
  const { db } = deps;
  const where = {
    AND: [
      query.boxId ? { boxId: query.boxId } : {},
      query.kind ? { kind: query.kind } : {},
      query.status ? { status: query.status } : {},
      query.startedBy !== undefined ? { createdByEmail: query.startedBy } : {},
      await visibleJobs(db, user),
    ],
  };
  const rows = await db.job.findMany({
    where,
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: query.limit + 1,
    ...(query.cursor ? { cursor: { id: query.cursor }, skip: 1 } : {}),
  });
  const items = rows.slice(0, query.limit).map((row) => toJobView(deps, row));
  return { items, nextCursor: rows.length > query.limit ? items[items.length - 1]?.id : undefined };
}

/** What the jobs page's filters offer: the boxes, kinds and people of the jobs the user may see. */
export async function jobFilterOptions(deps: JobReadDeps, user: SessionUser) {
  const { db } = deps;
  const visible = await visibleJobs(db, user);
  const [boxes, kinds, starters] = await Promise.all([
    db.job.findMany({ where: { AND: [visible, { boxId: { not: null } }] }, distinct: ['boxId'], select: { boxId: true, boxName: true }, orderBy: { boxId: 'asc' } }),
    db.job.findMany({ where: visible, distinct: ['kind'], select: { kind: true }, orderBy: { kind: 'asc' } }),
    db.job.findMany({ where: visible, distinct: ['createdByEmail'], select: { createdByEmail: true }, orderBy: { createdByEmail: 'asc' } }),
  ]);
  return {
    boxes: boxes.map((row) => ({ id: row.boxId!, name: row.boxName ?? row.boxId! })).sort((a, b) => a.name.localeCompare(b.name)),
    kinds: kinds.map((row) => ({ kind: row.kind, title: deps.jobs.recipeOf(row.kind)?.title ?? row.kind })),
    /** Emails; null is the dashboard itself. */
    startedBy: starters.map((row) => row.createdByEmail),
  };
}

export async function getJob(deps: JobReadDeps, user: SessionUser, id: string) {
  const job = await getJobRow(deps.db, user, id);
  const steps = await deps.db.jobStep.findMany({ where: { jobId: id }, orderBy: { index: 'asc' } });
  return { ...toJobView(deps, job), steps: steps.map(toStepView) };
}

export type JobLogEvent =
  | ({ type: 'line' } & Omit<JobLogLine, 'jobId'>)
  /** Last event: the job finished and every line was sent. */
  | { type: 'end'; status: JobStatus; error: string | null };

/** Lines read per query while catching up. */
const PAGE = 500;
/** Catch-up polling for jobs whose runner is another process (its events do not reach this one). */
const POLL_MS = 2_000;

/**
 * The job's log after line `afterSeq`, then live lines as they are written, then an `end` event once the job finished.
 * The database is the source: in-process events only wake the reader early, so nothing is missed or repeated
 * whichever runner writes the lines.
 */
export async function* followJobLog(
  db: Db,
  events: JobEvents,
  jobId: string,
  options: { afterSeq: number; signal?: AbortSignal; pollMs?: number },
): AsyncGenerator<JobLogEvent> {
  let woken = false;
  let wakeUp: (() => void) | null = null;
  const wake = () => {
    woken = true;
    wakeUp?.();
  };
  const onLog = (lines: JobLogLine[]) => {
    if (lines[0]?.jobId === jobId) wake();
  };
  const onFinished = (id: string) => {
    if (id === jobId) wake();
  };
  // Listen before the first read, so a line written meanwhile still wakes us.
  events.on('log', onLog);
  events.on('finished', onFinished);
  options.signal?.addEventListener('abort', wake);
  try {
    let last = options.afterSeq;
    while (!options.signal?.aborted) {
      woken = false;
      // Status before lines: the runner writes a job's last line before its final status, so once the status says
      // finished, the read below sees every line.
      const job = await db.job.findUnique({ where: { id: jobId }, select: { status: true, error: true } });
      if (!job) return;
      for (;;) {
        const rows = await db.jobLog.findMany({ where: { jobId, seq: { gt: last } }, orderBy: { seq: 'asc' }, take: PAGE });
        for (const row of rows) {
          yield { type: 'line', seq: row.seq, at: row.at, level: row.level as LogLevel, stepIndex: row.stepIndex, text: row.text };
          last = row.seq;
        }
        if (rows.length < PAGE) break;
      }
      if (isFinishedJobStatus(job.status)) {
        yield { type: 'end', status: job.status, error: job.error };
        return;
      }
      if (!woken) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, options.pollMs ?? POLL_MS);
          wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wakeUp = null;
      }
    }
  } finally {
    events.off('log', onLog);
    events.off('finished', onFinished);
    options.signal?.removeEventListener('abort', wake);
  }
}

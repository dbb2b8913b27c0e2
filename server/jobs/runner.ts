import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatSeconds } from '../../lib/format';
import { untilAborted } from '../abort';
import type { Actor } from '../audit/audit';
import { recordAudit } from '../audit/audit';
import type { Db } from '../db/client';
import { AppError, isAppError } from '../errors';
import { logger } from '../log';
import { isCommandTimeout } from '../ssh/errors';
import type { ExecResult, OutputListener } from '../ssh/pool';
import type { ShellCommand } from '../ssh/quote';
import { JobEvents, JobJournal, OutputLines } from './journal';
import { ExclusiveKeyHeld, type ActiveJob, type CancelOutcome, type ClaimedJob, type JobOutcome, type JobQueue, type JobTargetRef } from './queue';
import { parseJobParams, StepFailed, type AnyRecipe, type LogLevel, type Recipe, type Step, type StepContext, type StepExecOptions } from './recipe';
import { isFinishedJobStatus, type ActiveJobStatus, type FinishedJobStatus } from '../../lib/job-status';
import { errorMessage } from '../../lib/errors';

const log = logger.child({ module: 'jobs' });

/**
 * The part of BoxRemote (for boxes) and HostRemote (for hypervisor hosts) the runner needs. `signal` interrupts the
 * command (cancel, stop).
 */
export interface JobRemote {
  exec(
    targetId: string,
    command: ShellCommand,
    options: { actor: Actor; purpose: string; timeoutMs?: number; signal?: AbortSignal; stdin?: string; onOutput?: OutputListener },
  ): Promise<ExecResult>;
  /** Later commands run in a new login (e.g. after the user's groups changed); running ones are left alone. */
  refreshSession(targetId: string): void;
}

export interface JobRunnerOptions {
  db: Db;
  remote: JobRemote;
  hostRemote: JobRemote;
  queue: JobQueue;
  recipes: readonly AnyRecipe[];
  /** Jobs run at once by this runner. */
  concurrency: number;
  /** Runs of one step before a transient connection problem fails the job. */
  stepAttempts: number;
  /** Wait before the first retry of a step; doubles each time. */
  retryDelayMs: number;
  /** How often a running job's lease is renewed (and a cancel from another process noticed); a third of the lease. */
  heartbeatMs: number;
  /** How often the queue is polled for work from elsewhere (other processes, expired leases). */
  pollMs: number;
  /** A command's budget when its step gives none. */
  commandTimeoutMs: number;
  /** Told of each run this runner finished and recorded (for /metrics' job durations by kind). */
  onFinished?: (run: { kind: string; status: JobOutcome['status']; durationMs: number }) => void;
}

type InterruptReason = 'cancel' | 'stop' | 'lease-lost';

/** Why a job's signal was aborted. */
class JobInterrupted extends Error {
  constructor(readonly reason: InterruptReason) {
    super(`job interrupted: ${reason}`);
    this.name = 'JobInterrupted';
  }
}

/**
 * Errors worth running the step again for: the box could not be reached, or the connection dropped (the command may
 * or may not have finished: the retry starts with the step's check, so that is safe). A command that ran out of time
 * is the step's own problem, not a connection problem.
 */
export function isTransient(error: unknown): boolean {
  if (!isAppError(error)) return false;
  switch (error.code) {
    case 'SSH_UNREACHABLE':
    case 'SSH_DISCONNECTED':
      return true;
    case 'SSH_TIMEOUT':
      return !isCommandTimeout(error);
    default:
      return false;
  }
}

function messageOf(error: unknown): string {
  return errorMessage(error);
}

/** Host jobs name their host in the audit detail (audit rows have a box column only). */
function hostDetail(host: JobTargetRef | null): Record<string, string> {
  return host ? { hostId: host.id, hostName: host.name } : {};
}

interface RunningHere {
  controller: AbortController;
  done: Promise<void>;
}

/**
 * Only one job at a time may do this work: enqueue refuses (AppError CONFLICT) while a queued or running job holds the
 * key, whichever process queued it. `busy` words the refusal; by default it names the recipe and the job holding it.
 */
export interface Exclusive {
  key: string;
  busy?: (holder: ActiveJob) => string;
}

/** How a job ended, as waitFor saw it: finished, gone (deleted), or still active when the time was up. */
export type JobWaitOutcome =
  | { status: FinishedJobStatus; error: string | null }
  | { status: 'missing' }
  | { status: 'timed-out'; last: ActiveJobStatus };

function defaultBusyMessage(title: string, holder: ActiveJob): string {
  const who = holder.createdByEmail ?? 'the dashboard';
  return `${title} cannot be queued: job ${holder.id} (${holder.kind}, ${holder.status}, by ${who}) is doing this work already; wait for it to finish or cancel it, then try again.`;
}

/** How often waitFor looks at a job that another process runs (one run here wakes it at once). */
const WAIT_POLL_MS = 1_000;

/**
 * Runs queued jobs, a few at a time: claims them from the JobQueue, runs their recipe's steps (check, then apply and
 * verify when needed), retries steps after transient connection problems with exponential backoff, and records
 * everything in the job's steps and log. A job interrupted by a restart or a crash resumes at its first unfinished
 * step, on whichever runner claims it next.
 *
 * Created once per process (services.ts), then start() and, on shutdown, stop(): running jobs are interrupted and
 * handed back to the queue, so the next start (or another dashboard) resumes them.
 */
export class JobRunner {
  readonly events = new JobEvents();
  private readonly recipes: Map<string, AnyRecipe>;
  private readonly active = new Map<string, RunningHere>();
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeLoop: (() => void) | null = null;
  /** A wake that came while the loop was busy claiming: it looks again before sleeping. */
  private wakeRequested = false;

  constructor(private readonly options: JobRunnerOptions) {
    this.recipes = new Map(options.recipes.map((recipe) => [recipe.kind, recipe]));
  }

  /** The jobs this runner works on now. */
  runningJobIds(): readonly string[] {
    return [...this.active.keys()];
  }

  /** The registered recipe of a job kind; undefined for kinds this dashboard does not know (another version's). */
  recipeOf(kind: string): AnyRecipe | undefined {
    return this.recipes.get(kind);
  }

  async start(): Promise<void> {
    if (this.running) return;
    await this.options.queue.start();
    this.running = true;
    this.loop = this.claimLoop();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake();
    await this.loop;
    for (const job of this.active.values()) job.controller.abort(new JobInterrupted('stop'));
    await Promise.all([...this.active.values()].map((job) => job.done));
  }

  /**
   * Queues a job of a recipe this runner knows; params are validated (and defaulted) by the recipe. With `exclusive`,
   * refuses (AppError CONFLICT) while another queued or running job holds its key.
   */
  async enqueue<P, S>(
    recipe: Recipe<P, S>,
    request: { box?: JobTargetRef | null; host?: JobTargetRef | null; actor: Actor; params: unknown; exclusive?: Exclusive },
  ): Promise<string> {
    if (this.recipes.get(recipe.kind) !== (recipe as AnyRecipe)) throw new Error(`recipe "${recipe.kind}" is not registered with the job runner`);
    const box = request.box ?? null;
    const host = request.host ?? null;
    if (recipe.needs.box && !box) throw new Error(`a ${recipe.kind} job runs on a box`);
    if (recipe.needs.host && !host) throw new Error(`a ${recipe.kind} job runs on a hypervisor host`);
    const params = recipe.params.parse(request.params);
    const jobId = await this.options.queue
      .enqueue({
        kind: recipe.kind,
        box,
        host,
        vmId: recipe.vmIdOf?.(params) ?? null,
        exclusiveKey: request.exclusive?.key ?? null,
        createdBy: request.actor,
        params,
        stepNames: recipe.steps.map((step) => step.name),
      })
      .catch((error: unknown) => {
        if (!(error instanceof ExclusiveKeyHeld)) throw error;
        const busy = request.exclusive?.busy ?? ((holder: ActiveJob) => defaultBusyMessage(recipe.title, holder));
        throw new AppError('CONFLICT', busy(error.holder));
      });
    await recordAudit(this.options.db, {
      actor: request.actor,
      action: 'job.enqueue',
      box,
      detail: { jobId, kind: recipe.kind, params, ...hostDetail(host) },
      result: 'ok',
    });
    this.wake();
    return jobId;
  }

  /**
   * Waits until the job finished (or timeoutMs passed) and says how it ended; never throws for the job's own failure.
   * A job run by this runner wakes the wait as it finishes; one run elsewhere is looked at every pollMs.
   */
  async waitFor(jobId: string, options: { timeoutMs: number; pollMs?: number }): Promise<JobWaitOutcome> {
    const deadline = Date.now() + options.timeoutMs;
    let woken = false;
    let wakeUp: (() => void) | null = null;
    const onFinished = (id: string) => {
      if (id !== jobId) return;
      woken = true;
      wakeUp?.();
    };
    // Listen before the first look, so a finish in between still wakes the wait.
    this.events.on('finished', onFinished);
    try {
      for (;;) {
        woken = false;
        const job = await this.options.db.job.findUnique({ where: { id: jobId }, select: { status: true, error: true } });
        if (!job) return { status: 'missing' };
        if (isFinishedJobStatus(job.status)) return { status: job.status, error: job.error };
        const remaining = deadline - Date.now();
        if (remaining <= 0) return { status: 'timed-out', last: job.status as ActiveJobStatus };
        if (woken) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(options.pollMs ?? WAIT_POLL_MS, remaining));
          wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wakeUp = null;
      }
    } finally {
      this.events.off('finished', onFinished);
    }
  }

  /**
   * Runs a failed or cancelled job again: a new job of the same kind, on the same box and host, with the same
   * parameters, queued by `actor`. It takes its recipe's exclusive key as the first run did, so while another job
   * holds that key it is refused (CONFLICT) with the sentence that names that job. Audited as job.retry.
   */
  async retry(jobId: string, actor: Actor): Promise<string> {
    const { db } = this.options;
    const job = await db.job.findUnique({ where: { id: jobId } });
    if (!job) throw new AppError('NOT_FOUND', 'No such job.');
    if (job.status !== 'failed' && job.status !== 'cancelled') {
      throw new AppError('CONFLICT', `Job ${job.id} is ${job.status}: only a failed or cancelled job can be run again.`);
    }
    const recipe = this.recipes.get(job.kind);
    if (!recipe) throw new AppError('BAD_INPUT', `This dashboard does not know jobs of kind "${job.kind}", so it cannot run one again.`);
    const parsed = parseJobParams(recipe, job.params);
    if (!parsed.ok) throw new AppError('BAD_INPUT', parsed.problem);
    const box = job.boxId ? await db.box.findUnique({ where: { id: job.boxId }, select: { id: true, name: true } }) : null;
    if (job.boxId && !box) throw new AppError('NOT_FOUND', `The box ${job.boxName ?? job.boxId} was removed, so this job cannot run again.`);
    const host = job.hostId ? await db.host.findUnique({ where: { id: job.hostId }, select: { id: true, name: true } }) : null;
    if (job.hostId && !host) throw new AppError('NOT_FOUND', `The host ${job.hostName ?? job.hostId} was removed, so this job cannot run again.`);
    const key = recipe.exclusiveKeyOf?.({ boxId: job.boxId, hostId: job.hostId, vmId: job.vmId }) ?? null;
    const retryId = await this.enqueue(recipe, { box, host, actor, params: parsed.params, exclusive: key ? { key } : undefined });
    await recordAudit(db, { actor, action: 'job.retry', box, detail: { jobId: retryId, retryOf: job.id, kind: job.kind, ...hostDetail(host) }, result: 'ok' });
    return retryId;
  }

  /** Cancels a queued job at once; a running one is interrupted mid-command (here, or by its own runner elsewhere). */
  async cancel(jobId: string, actor: Actor): Promise<CancelOutcome> {
    const { db, queue } = this.options;
    const outcome = await queue.cancel(jobId);
    if (outcome === 'cancelled') {
      const journal = await JobJournal.open(db, this.events, jobId);
      await journal.skipPending();
      await journal.log([{ level: 'error', text: `Cancelled by ${actor.email ?? 'the dashboard'} before it started.` }]);
      this.events.emit('finished', jobId);
    }
    if (outcome === 'requested') this.active.get(jobId)?.controller.abort(new JobInterrupted('cancel'));
    if (outcome === 'cancelled' || outcome === 'requested') {
      const job = await db.job.findUnique({ where: { id: jobId }, select: { boxId: true, boxName: true, hostId: true, hostName: true, kind: true } });
      await recordAudit(db, {
        actor,
        action: 'job.cancel',
        box: job?.boxId ? { id: job.boxId, name: job.boxName ?? job.boxId } : null,
        detail: { jobId, kind: job?.kind, outcome, ...(job?.hostId ? hostDetail({ id: job.hostId, name: job.hostName ?? job.hostId }) : {}) },
        result: 'ok',
      });
    }
    return outcome;
  }

  /** Claims while there are free slots and work, then sleeps until woken (enqueue, a job done, stop) or the poll interval. */
  private async claimLoop(): Promise<void> {
    while (this.running) {
      while (this.running && this.active.size < this.options.concurrency) {
        const sent = performance.now();
        const job = await this.options.queue.claim([...this.active.keys()]).catch((error: unknown) => {
          log.error({ err: error }, 'could not claim a job');
          return null;
        });
        if (!job) break;
        this.launch(job, sent);
      }
      if (!this.running || this.wakeRequested) {
        this.wakeRequested = false;
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.pollMs);
        this.wakeLoop = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeLoop = null;
      this.wakeRequested = false;
    }
  }

  /** Makes the claim loop look for work now (new job, free slot, stop) instead of at its next poll. */
  private wake(): void {
    this.wakeRequested = true;
    this.wakeLoop?.();
  }

  /** Runs a job claimed by a claim sent at `claimSent` (performance.now()). */
  private launch(job: ClaimedJob, claimSent: number): void {
    const controller = new AbortController();
    const done = this.run(job, controller, claimSent)
      .catch((error: unknown) => log.error({ err: error, jobId: job.id }, 'job runner failed'))
      .finally(() => {
        this.active.delete(job.id);
        this.wake();
      });
    this.active.set(job.id, { controller, done });
  }

  private async run(job: ClaimedJob, controller: AbortController, claimSent: number): Promise<void> {
    const { queue } = this.options;
    // The lease set by a claim or heartbeat ends no sooner than leaseMs after it was sent, by any clock. Once that much
    // time has passed here since the last one that went through (the database out of reach, this process stalled),
    // another runner may take the job: stop first, so no step runs in two places at once.
    let leaseRunsOut: NodeJS.Timeout | undefined;
    const heldSince = (sent: number) => {
      clearTimeout(leaseRunsOut);
      leaseRunsOut = setTimeout(() => controller.abort(new JobInterrupted('lease-lost')), Math.max(0, sent + queue.leaseMs - performance.now()));
    };
    heldSince(claimSent);
    const heartbeat = setInterval(() => {
      const sent = performance.now();
      queue.heartbeat(job).then(
        (beat) => {
          if (!beat.held) controller.abort(new JobInterrupted('lease-lost'));
          else {
            heldSince(sent);
            if (beat.cancelRequested) controller.abort(new JobInterrupted('cancel'));
          }
        },
        (error: unknown) => log.warn({ err: error, jobId: job.id }, 'could not renew a job lease'),
      );
    }, this.options.heartbeatMs);
    try {
      if (job.cancelRequested) controller.abort(new JobInterrupted('cancel'));
      await this.execute(job, controller.signal);
    } finally {
      clearInterval(heartbeat);
      clearTimeout(leaseRunsOut);
    }
  }

  private async execute(job: ClaimedJob, signal: AbortSignal): Promise<void> {
    const journal = await JobJournal.open(this.options.db, this.events, job.id);
    const started = Date.now();
    let outcome: JobOutcome;
    try {
      await this.runSteps(job, journal, signal);
      outcome = { status: 'succeeded' };
      await journal.log([{ level: 'info', text: `Succeeded in ${formatSeconds(Date.now() - started)}.` }]);
    } catch (error) {
      const interrupted = signal.aborted && signal.reason instanceof JobInterrupted ? signal.reason.reason : null;
      if (interrupted === 'lease-lost') {
        // Another runner took the job over, or may have (this one could not renew within the lease): it owns the record now.
        log.warn({ jobId: job.id }, 'lost the lease of a running job; leaving it to its new runner');
        return;
      }
      if (interrupted === 'stop') {
        await journal.log([{ level: 'warn', text: 'Interrupted: the dashboard is stopping. The job resumes at this step when a runner picks it up again.' }]);
        await this.options.queue.release(job);
        return;
      }
      await journal.skipPending();
      if (interrupted === 'cancel') {
        outcome = { status: 'cancelled', error: 'Cancelled while it was running.' };
        await journal.log([{ level: 'error', text: 'Cancelled.' }]);
      } else {
        outcome = { status: 'failed', error: messageOf(error) };
        if (!(error instanceof StepFailed) && !isAppError(error)) log.error({ err: error, jobId: job.id }, 'job failed unexpectedly');
        await journal.log([{ level: 'error', text: `Failed: ${outcome.error}` }]);
      }
    }
    if (!(await this.options.queue.finish(job, outcome))) {
      log.warn({ jobId: job.id }, 'a job finished after its lease was lost; its outcome was not recorded');
      return;
    }
    this.options.onFinished?.({ kind: job.kind, status: outcome.status, durationMs: Date.now() - started });
    await recordAudit(this.options.db, {
      actor: job.createdBy,
      action: 'job.finish',
      box: job.box,
      detail: { jobId: job.id, kind: job.kind, status: outcome.status, ...hostDetail(job.host) },
      result: outcome.status === 'succeeded' ? 'ok' : 'error',
      error: outcome.status === 'succeeded' ? undefined : outcome.error,
    });
    this.events.emit('finished', job.id);
  }

  /** Runs the steps not yet succeeded, in order. Throws the error that ended the job (as a plain message). */
  private async runSteps(job: ClaimedJob, journal: JobJournal, signal: AbortSignal): Promise<void> {
    const { db } = this.options;
    const recipe = this.recipes.get(job.kind);
    if (!recipe) throw new StepFailed(`This dashboard cannot run jobs of kind "${job.kind}" (made by another version?).`);
    const params = parseJobParams(recipe, job.params);
    if (!params.ok) throw new StepFailed(params.problem);
    const box = job.box ? await db.box.findUnique({ where: { id: job.box.id }, select: { id: true, name: true, sshUser: true } }) : null;
    if (job.box && !box) throw new StepFailed(`The box ${job.box.name} was deleted.`);
    const host = job.host ? await db.host.findUnique({ where: { id: job.host.id }, select: { id: true, name: true, kind: true } }) : null;
    if (job.host && !host) throw new StepFailed(`The host ${job.host.name} was deleted.`);
    const rows = await db.jobStep.findMany({ where: { jobId: job.id }, orderBy: { index: 'asc' } });
    if (rows.length !== recipe.steps.length || rows.some((row, i) => row.name !== recipe.steps[i]!.name)) {
      throw new StepFailed(`The ${recipe.title} recipe changed since this job was queued (dashboard upgrade); run it again.`);
    }

    const total = rows.length;
    const resumeAt = rows.findIndex((row) => row.status !== 'succeeded');
    if (job.claim > 1 && resumeAt >= 0) {
      await journal.log([{ level: 'info', text: `Resuming at step ${resumeAt + 1} of ${total} (${rows[resumeAt]!.name}); the steps before it are done and are not run again.` }]);
    } else {
      const on = [box?.name, host && `host ${host.name}`].filter(Boolean).join(' on ');
      await journal.log([{ level: 'info', text: `${recipe.title} on ${on}, queued by ${job.createdBy.email ?? 'the dashboard'}.` }]);
    }

    const state = JSON.parse(job.state) as object;
    for (const [index, row] of rows.entries()) {
      if (row.status === 'succeeded') continue;
      const step = recipe.steps[index]!;
      const ctx = this.stepContext(job, { box, host }, params.params, state, journal, index, signal);
      try {
        await this.runStep(step, ctx, journal, index, total);
      } catch (error) {
        const interrupted = signal.aborted && signal.reason instanceof JobInterrupted;
        if (interrupted && signal.reason.reason !== 'cancel') throw error;
        const message = interrupted ? 'Cancelled.' : messageOf(error);
        await journal.stepFailed(index, message);
        if (interrupted) throw error;
        throw new StepFailed(`Step ${index + 1} of ${total} (${step.name}) failed: ${message}`, { cause: error });
      }
    }
  }

  /** check, then apply + verify when needed; the whole step runs again after a transient connection problem. */
  private async runStep(step: Step<unknown, object>, ctx: StepContext<unknown, object>, journal: JobJournal, index: number, total: number): Promise<void> {
    const { stepAttempts, retryDelayMs } = this.options;
    await journal.log([{ level: 'step', text: `Step ${index + 1} of ${total}: ${step.name}` }], index);
    for (let attempt = 1; ; attempt++) {
      await journal.stepAttempted(index);
      try {
        if (await step.check(ctx)) {
          await journal.stepSucceeded(index, false, ctx.state);
          await journal.log([{ level: 'step', text: 'Already done.' }], index);
          return;
        }
        await step.apply(ctx);
        await step.verify(ctx);
        await journal.stepSucceeded(index, true, ctx.state);
        await journal.log([{ level: 'step', text: 'Done.' }], index);
        return;
      } catch (error) {
        if (ctx.signal.aborted) throw ctx.signal.reason as Error;
        if (!isTransient(error)) throw error;
        if (attempt >= stepAttempts) throw new StepFailed(`${messageOf(error)} (gave up after ${attempt} attempts)`, { cause: error });
        const delay = retryDelayMs * 2 ** (attempt - 1);
        await journal.log(
          [{ level: 'warn', text: `Connection problem: ${messageOf(error)}. Running this step again, from its check, in ${formatSeconds(delay)} (attempt ${attempt + 1} of ${stepAttempts}).` }],
          index,
        );
        await untilAborted(sleep(delay), ctx.signal);
      }
    }
  }

  private stepContext(
    job: ClaimedJob,
    targets: Pick<StepContext<unknown, object>, 'box' | 'host'>,
    params: unknown,
    state: object,
    journal: JobJournal,
    stepIndex: number,
    signal: AbortSignal,
  ): StepContext<unknown, object> {
    const { remote, hostRemote, db } = this.options;
    const { box, host } = targets;
    return {
      jobId: job.id,
      db,
      box,
      host,
      params,
      state,
      signal,
      log: (text: string, level: LogLevel = 'info') => journal.log([{ level, text }], stepIndex),
      refreshSession: () => {
        if (box) remote.refreshSession(box.id);
      },
      exec: (command, execOptions) => {
        if (!box) throw new StepFailed('this job has no box to run commands on');
        return this.execLogged(remote, box.id, '', job, journal, stepIndex, signal, command, execOptions);
      },
      hostExec: (command, execOptions) => {
        if (!host) throw new StepFailed('this job has no hypervisor host to run commands on');
        return this.execLogged(hostRemote, host.id, `${host.name}$ `, job, journal, stepIndex, signal, command, execOptions);
      },
    };
  }

  /** Runs one command of a step on a box or host, with the command, its output (capped) and its status in the log. */
  private async execLogged(
    remote: JobRemote,
    targetId: string,
    prompt: string,
    job: ClaimedJob,
    journal: JobJournal,
    stepIndex: number,
    signal: AbortSignal,
    command: ShellCommand,
    execOptions: StepExecOptions = {},
  ): Promise<ExecResult> {
    const { commandTimeoutMs } = this.options;
    signal.throwIfAborted();
    await journal.log([{ level: 'command', text: `${prompt || '$ '}${command.text}` }], stepIndex);
    // Output goes to the log line by line while the command runs (the journal keeps writes in order).
    const written: Promise<void>[] = [];
    const splitters = {
      stdout: new OutputLines((lines) => written.push(journal.log(lines.map((text) => ({ level: 'stdout', text })), stepIndex))),
      stderr: new OutputLines((lines) => written.push(journal.log(lines.map((text) => ({ level: 'stderr', text })), stepIndex))),
    };
    try {
      const result = await untilAborted(
        remote.exec(targetId, command, {
          actor: job.createdBy,
          purpose: `job.${job.kind}`,
          timeoutMs: execOptions.timeoutMs ?? commandTimeoutMs,
          signal,
          stdin: execOptions.stdin,
          onOutput: (stream, chunk) => splitters[stream].push(chunk),
        }),
        signal,
      );
      const status = result.code === null ? `killed by ${result.signal ?? 'a signal'}` : `exit ${result.code}`;
      splitters.stdout.end();
      splitters.stderr.end();
      written.push(journal.log([{ level: 'info', text: `${status} after ${formatSeconds(result.durationMs)}` }], stepIndex));
      return result;
    } finally {
      await Promise.all(written);
    }
  }
}

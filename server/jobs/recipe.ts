import type { Db } from '../db/client';
import type { z } from 'zod';
import type { ExecResult } from '../ssh/pool';
import type { ShellCommand } from '../ssh/quote';

/**
 * Recipes and steps: what a job does, independent of how jobs are queued and run (see runner.ts and queue.ts).
 *
 * A step is idempotent by construction: the runner calls `check` first and only runs `apply` (then `verify`) when the
 * box is not already in the wanted state. That is what makes a job safe to resume after an interruption: the step that
 * was interrupted runs again from its check, whatever apply had or had not done on the box.
 */

export const logLevels = ['info', 'step', 'command', 'stdout', 'stderr', 'warn', 'error'] as const;
export type LogLevel = (typeof logLevels)[number];

export interface StepExecOptions {
  /** Budget for the whole command; defaults to the runner's. */
  timeoutMs?: number;
  /** Data for the command's stdin (a file's new content), kept out of the command line and the audit log. */
  stdin?: string;
}

export interface StepContext<P, S> {
  readonly jobId: string;
  /** For steps whose wanted state lives in the dashboard (e.g. the developers' keys of a box). */
  readonly db: Db;
  /** The job's box as it was when the job (re)started; null for a job on a host only (a VM that is not a box). */
  readonly box: { readonly id: string; readonly name: string; readonly sshUser: string } | null;
  /** The job's hypervisor host; null for a job on a box only. */
  readonly host: { readonly id: string; readonly name: string; readonly kind: string } | null;
  readonly params: P;
  /**
   * Facts a step leaves for later ones (e.g. the detected distribution). Saved when a step succeeds, so a resumed
   * job has them even though the steps that found them are not run again.
   */
  readonly state: Partial<S>;
  /** Aborted when the job is cancelled, the runner stops, or the runner lost the job's lease. */
  readonly signal: AbortSignal;
  /**
   * Runs a command on the box as its SSH user (audited through BoxRemote). The job log gets the command, its output
   * lines (capped) and exit code. A non-zero exit is a result; connection problems throw AppErrors, which the runner
   * retries when they are transient.
   */
  exec(command: ShellCommand, options?: StepExecOptions): Promise<ExecResult>;
  /**
   * The box's later commands (this job's and everyone's) run in a new SSH login, for changes a login only picks up
   * when it starts, such as the user's groups. Open terminals keep their own.
   */
  refreshSession(): void;
  /** The same on the job's hypervisor host (audited through HostRemote); throws StepFailed when the job has none. */
  hostExec(command: ShellCommand, options?: StepExecOptions): Promise<ExecResult>;
  /** Adds a line to the job log. */
  log(text: string, level?: LogLevel): Promise<void>;
}

export interface Step<P, S> {
  /** Shown in the UI and the log, e.g. "Install Docker". */
  readonly name: string;
  /** True when the box is already in the wanted state. Must not change the box. */
  check(ctx: StepContext<P, S>): Promise<boolean>;
  /** Brings the box to the wanted state. May run again after an interruption (after a fresh check). */
  apply(ctx: StepContext<P, S>): Promise<void>;
  /** Confirms apply worked; throws StepFailed when it did not. */
  verify(ctx: StepContext<P, S>): Promise<void>;
}

export interface Recipe<P, S> {
  /** Stored as Job.kind; never rename one that may have jobs in a database. */
  readonly kind: string;
  /** What a job of this recipe needs; enqueue refuses a job without it, so its steps may rely on ctx.box / ctx.host. */
  readonly needs: { readonly box: boolean; readonly host: boolean };
  /** What a job of this kind does, e.g. "Provision Docker". */
  readonly title: string;
  /**
   * Validates params when the job is enqueued, and again whenever they are read back (parseJobParams): by the runner
   * before it runs the job, and by the job views.
   */
  readonly params: z.ZodType<P>;
  /** For a recipe that acts on one VM: which one, kept in Job.vmId so the jobs on a VM are found by that column. */
  vmIdOf?(params: P): string;
  /**
   * For a recipe whose jobs hold an exclusive key (JobRunner.enqueue's `exclusive`): that key, from what the job runs
   * on, so a retry of a finished job takes the same key its first run took. Null when the target lacks what it needs.
   */
  exclusiveKeyOf?(target: ExclusiveTarget): string | null;
  readonly steps: readonly Step<P, S>[];
}

/** What a job runs on, as its row records it (Job.boxId, hostId, vmId). */
export interface ExclusiveTarget {
  boxId: string | null;
  hostId: string | null;
  vmId: string | null;
}

export type ParsedJobParams<P> = { ok: true; params: P } | { ok: false; problem: string };

/**
 * A stored job's params (Job.params, JSON) read through its recipe's schema. A row that no longer fits (edited by
 * hand, written by another version) is a plain sentence, never a crash.
 */
export function parseJobParams<P>(recipe: Pick<Recipe<P, object>, 'params' | 'title'>, json: string): ParsedJobParams<P> {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return { ok: false, problem: `The job's parameters are not valid JSON, so this ${recipe.title} job cannot be read.` };
  }
  const parsed = recipe.params.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message)).join('; ');
    return { ok: false, problem: `The job's parameters are not valid any more: ${issues}` };
  }
  return { ok: true, params: parsed.data };
}

/** Any recipe, as the runner sees it: it never looks inside params or state, it only stores them as JSON. */
export type AnyRecipe = Recipe<unknown, object>;

/**
 * A step's own failure: permanent (retrying would not help), with a message written for the admin, e.g. "the box user
 * needs passwordless sudo (NOPASSWD) for provisioning". Connection problems are AppErrors instead (see runner.ts).
 */
export class StepFailed extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StepFailed';
  }
}

/**
 * A step that only looks (detects facts, checks a precondition): its check does the work and either returns true
 * or throws StepFailed, so apply and verify are never reached.
 */
export function probeStep<P, S>(name: string, probe: (ctx: StepContext<P, S>) => Promise<void>): Step<P, S> {
  const unreachable = () => Promise.reject(new Error(`"${name}" only probes: its check returns true or throws`));
  return {
    name,
    async check(ctx) {
      await probe(ctx);
      return true;
    },
    apply: unreachable,
    verify: unreachable,
  };
}

/** The job's box, for steps of recipes that need one (the runner guarantees it; see Recipe.needs). */
export function boxOf<P, S>(ctx: StepContext<P, S>): NonNullable<StepContext<P, S>['box']> {
  if (!ctx.box) throw new StepFailed('this job has no box');
  return ctx.box;
}

/** The job's hypervisor host, for steps of recipes that need one. */
export function hostOf<P, S>(ctx: StepContext<P, S>): NonNullable<StepContext<P, S>['host']> {
  if (!ctx.host) throw new StepFailed('this job has no hypervisor host');
  return ctx.host;
}

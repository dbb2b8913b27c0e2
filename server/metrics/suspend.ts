import { recordAudit, systemActor, type Actor } from '../audit/audit';
import type { Db } from '../db/client';
import { AppError } from '../errors';
import { logger } from '../log';
import { tunnelReason, type IdleState } from './idle';
import { errorMessage } from '../../lib/errors';

const log = logger.child({ module: 'auto-suspend' });

export type SuspendAction = 'suspend' | 'power-off';
/**
 * Suspends (VM, through its hypervisor's lifecycle job) or powers off (VPS) a box. Injected: the lead wires
 * server/vms' requestVmAction; tests pass a recording function. Must throw when the action could not be done.
 */
export type SuspendBoxFn = (boxId: string, reason: string, action: SuspendAction) => Promise<void>;
/** Brings a suspended box back (resume-on-demand when its terminal opens). Injected like SuspendBoxFn. */
export type ResumeBoxFn = (boxId: string, reason: string) => Promise<void>;

export interface PolicyRow {
  id: string;
  boxId: string | null;
  tag: string | null;
  idleMinutes: number;
  action: string;
  enabled: boolean;
}

/** The box's own policy wins; otherwise the first of its tags (in the box's order) that has one. */
export function policyFor(box: { id: string; tags: string[] }, policies: PolicyRow[]): PolicyRow | null {
  const own = policies.find((p) => p.boxId === box.id);
  if (own) return own;
  for (const tag of box.tags) {
    const byTag = policies.find((p) => p.tag === tag);
    if (byTag) return byTag;
  }
  return null;
}

export type Decision =
  | { kind: 'nothing' }
  | { kind: 'warn' }
  | { kind: 'clear-warning' }
  | { kind: 'suspend'; action: SuspendAction }
  | { kind: 'refuse'; reason: string };

export interface DecisionInput {
  policy: PolicyRow | null;
  idle: IdleState;
  /** ms, or null */
  warnedAt: number | null;
  suspendedAt: number | null;
  terminalsAttached: number;
  /** Open tunnels to the box ("ssh by <email>"): like an attached terminal, each one forbids the action. */
  tunnels?: readonly string[];
  now: number;
  /** Time between the warning and the action. */
  warningMs: number;
  /** Length of one policy minute (60 000; shortened in tests). */
  minuteMs?: number;
}

/** The whole policy in one pure function: warn first, act after the warning period, never with a terminal attached. */
export function decideSuspend(input: DecisionInput): Decision {
  const { policy, idle, warnedAt, suspendedAt, terminalsAttached, tunnels = [], now, warningMs, minuteMs = 60_000 } = input;
  const active = policy !== null && policy.enabled && (policy.action === 'suspend' || policy.action === 'power-off');
  if (!active || idle.state !== 'idle') {
    // Activity (or the policy removed) withdraws the warning; a box that went down keeps it (it may be our suspend).
    return warnedAt !== null && (!active || idle.state === 'busy' || idle.state === 'quiet') ? { kind: 'clear-warning' } : { kind: 'nothing' };
  }
  if (suspendedAt !== null && suspendedAt >= idle.since) return { kind: 'nothing' };
  if (now - idle.since < policy.idleMinutes * minuteMs) return { kind: 'nothing' };
  if (warnedAt === null || warnedAt < idle.since) return { kind: 'warn' };
  if (now - warnedAt < warningMs) return { kind: 'nothing' };
  if (terminalsAttached > 0) {
    return { kind: 'refuse', reason: `${terminalsAttached} terminal${terminalsAttached === 1 ? ' is' : 's are'} attached` };
  }
  if (tunnels.length > 0) return { kind: 'refuse', reason: tunnels.map(tunnelReason).join(', ') };
  return { kind: 'suspend', action: policy.action as SuspendAction };
}

export interface AutoSuspenderOptions {
  db: Db;
  idleState: (boxId: string) => IdleState;
  terminalsAttached: (boxId: string) => number;
  /** Open tunnels to the box (metrics' TunnelActivity); none when absent. */
  tunnelsOpen?: (boxId: string) => readonly string[];
  warningMs: () => number;
  now: () => number;
  suspendBox: SuspendBoxFn | null;
  resumeBox: ResumeBoxFn | null;
  attempts?: number;
  retryDelayMs?: number;
  /** Length of one policy minute (tests shorten it). */
  minuteMs?: number;
}

export interface SuspendFailure {
  at: number;
  message: string;
}

/**
 * Applies the policies: called by the metrics service on its tick. Warnings, actions, refusals and failures are
 * written on the box (suspendWarnedAt, autoSuspendedAt) and in the audit log. A failed action is retried
 * (attempts, doubling delay), then reported (audit + lastFailure) and not retried in the same idle period.
 */
export class AutoSuspender {
  private busy = false;
  private readonly failures = new Map<string, SuspendFailure & { idleSince: number }>();
  private readonly refused = new Map<string, number>();

  constructor(private readonly options: AutoSuspenderOptions) {}

  lastFailure(boxId: string): SuspendFailure | null {
    return this.failures.get(boxId) ?? null;
  }

  async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const { db } = this.options;
      const policies = await db.suspendPolicy.findMany();
      if (!policies.length) return;
      const boxes = await db.box.findMany({ select: { id: true, name: true, tags: true, suspendWarnedAt: true, autoSuspendedAt: true } });
      for (const box of boxes) await this.apply(box, policies);
    } finally {
      this.busy = false;
    }
  }

  private async apply(
    box: { id: string; name: string; tags: string; suspendWarnedAt: Date | null; autoSuspendedAt: Date | null },
    policies: PolicyRow[],
  ): Promise<void> {
    const { db } = this.options;
    const tags = JSON.parse(box.tags) as string[];
    const policy = policyFor({ id: box.id, tags }, policies);
    const idle = this.options.idleState(box.id);
    const now = this.options.now();
    const decision = decideSuspend({
      policy,
      idle,
      warnedAt: box.suspendWarnedAt?.getTime() ?? null,
      suspendedAt: box.autoSuspendedAt?.getTime() ?? null,
      terminalsAttached: this.options.terminalsAttached(box.id),
      tunnels: this.options.tunnelsOpen?.(box.id),
      now,
      warningMs: this.options.warningMs(),
      minuteMs: this.options.minuteMs,
    });
    const audited = { actor: systemActor, box: { id: box.id, name: box.name } };
    const since = idle.state === 'idle' ? idle.since : 0;
    switch (decision.kind) {
      case 'nothing':
        return;
      case 'clear-warning':
        await db.box.update({ where: { id: box.id }, data: { suspendWarnedAt: null } });
        return;
      case 'warn':
        await db.box.update({ where: { id: box.id }, data: { suspendWarnedAt: new Date(now) } });
        await recordAudit(db, { ...audited, action: 'box.autosuspend.warn', detail: { policy: policy?.id, action: policy?.action, idleSince: new Date(since).toISOString() }, result: 'ok' });
        return;
      case 'refuse':
        if (this.refused.get(box.id) === since) return; // once per idle period in the audit log
        this.refused.set(box.id, since);
        await recordAudit(db, { ...audited, action: 'box.autosuspend', detail: { policy: policy?.id, action: policy?.action }, result: 'error', error: `refused: ${decision.reason}` });
        return;
      case 'suspend': {
        if (this.failures.get(box.id)?.idleSince === since) return;
        const reason = `idle since ${new Date(since).toISOString()} (policy: ${policy?.idleMinutes} min)`;
        try {
          await this.run(box.id, reason, decision.action);
        } catch (error) {
          const message = errorMessage(error);
          this.failures.set(box.id, { at: now, message, idleSince: since });
          log.warn({ box: box.id, err: message }, 'auto-suspend failed');
          await recordAudit(db, { ...audited, action: 'box.autosuspend', detail: { policy: policy?.id, action: decision.action, reason }, result: 'error', error: message });
          return;
        }
        this.failures.delete(box.id);
        await db.box.update({ where: { id: box.id }, data: { autoSuspendedAt: new Date(this.options.now()) } });
        await recordAudit(db, { ...audited, action: 'box.autosuspend', detail: { policy: policy?.id, action: decision.action, reason }, result: 'ok' });
        return;
      }
    }
  }

  private async run(boxId: string, reason: string, action: SuspendAction): Promise<void> {
    const suspend = this.options.suspendBox;
    if (!suspend) throw new AppError('INTERNAL', 'auto-suspend is not wired to the VM lifecycle in this dashboard yet');
    const attempts = this.options.attempts ?? 3;
    const delay = this.options.retryDelayMs ?? 5_000;
    for (let attempt = 1; ; attempt++) {
      try {
        // A terminal may have attached while an earlier attempt failed.
        const attached = this.options.terminalsAttached(boxId);
        if (attached > 0) throw new AppError('CONFLICT', `refused: ${attached} terminal(s) attached`);
        const tunnels = this.options.tunnelsOpen?.(boxId) ?? [];
        if (tunnels.length > 0) throw new AppError('CONFLICT', `refused: ${tunnels.map(tunnelReason).join(', ')}`);
        await suspend(boxId, reason, action);
        return;
      } catch (error) {
        if (attempt >= attempts || (error instanceof AppError && error.code === 'CONFLICT')) throw error;
        await new Promise((resolve) => setTimeout(resolve, delay * 2 ** (attempt - 1)));
      }
    }
  }
}

/**
 * Resume-on-demand, called before a terminal opens on the box (server/vms/wake.ts): resumes it when the idle policy
 * suspended it (and clears the marks), does nothing otherwise. Returns what happened. It needs no state of the
 * AutoSuspender: the marks are on the box row.
 */
export async function resumeOnDemand(deps: { db: Db; resumeBox: ResumeBoxFn | null }, boxId: string, actor: Actor): Promise<'resumed' | 'not-suspended'> {
  const { db } = deps;
  const box = await db.box.findUnique({ where: { id: boxId }, select: { id: true, name: true, autoSuspendedAt: true } });
  if (!box) throw new AppError('NOT_FOUND', 'That box was deleted.');
  if (!box.autoSuspendedAt) return 'not-suspended';
  const resume = deps.resumeBox;
  const audited = { actor, action: 'box.resume.on-demand' as const, box: { id: box.id, name: box.name } };
  try {
    if (!resume) throw new AppError('INTERNAL', 'resume is not wired to the VM lifecycle in this dashboard yet');
    await resume(boxId, `terminal opened by ${actor.email ?? 'the dashboard'}`);
  } catch (error) {
    await recordAudit(db, { ...audited, result: 'error', error: errorMessage(error) });
    throw error;
  }
  await db.box.update({ where: { id: boxId }, data: { autoSuspendedAt: null, suspendWarnedAt: null, idleSince: null } });
  await recordAudit(db, { ...audited, result: 'ok' });
  return 'resumed';
}

// The auto-suspend policy: the pure decision, then the AutoSuspender on a real database (SQLite and PostgreSQL)
// with a recording suspendBox (the real VM lifecycle is wired by the lead; see the report), retries and refusals.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Actor } from '../audit/audit';
import type { Db } from '../db/client';
import { providers, testDatabases } from '../../testing/helpers/databases';
import type { IdleState } from './idle';
import { AutoSuspender, decideSuspend, policyFor, resumeOnDemand, type DecisionInput, type PolicyRow, type SuspendAction } from './suspend';
import { seededMetricsDatabase } from '../../testing/helpers/metrics';

const policy = (over: Partial<PolicyRow> = {}): PolicyRow => ({ id: 'p1', boxId: 'b1', tag: null, idleMinutes: 10, action: 'suspend', enabled: true, ...over });
const MIN = 60_000;

describe('decideSuspend', () => {
  const idle = (sinceMinutesAgo: number, now = 1_000 * MIN): IdleState => ({ state: 'idle', since: now - sinceMinutesAgo * MIN });
  const base = (over: Partial<DecisionInput> = {}): DecisionInput => ({
    policy: policy(),
    idle: idle(11),
    warnedAt: null,
    suspendedAt: null,
    terminalsAttached: 0,
    now: 1_000 * MIN,
    warningMs: 5 * MIN,
    ...over,
  });

  it('warns first when the idle time reaches the policy, acts only after the warning period', () => {
    expect(decideSuspend(base({ idle: idle(9) }))).toEqual({ kind: 'nothing' });
    expect(decideSuspend(base())).toEqual({ kind: 'warn' });
    expect(decideSuspend(base({ warnedAt: 1_000 * MIN - 4 * MIN }))).toEqual({ kind: 'nothing' });
    expect(decideSuspend(base({ warnedAt: 1_000 * MIN - 5 * MIN }))).toEqual({ kind: 'suspend', action: 'suspend' });
    expect(decideSuspend(base({ policy: policy({ action: 'power-off' }), warnedAt: 0 + 990 * MIN - 1 }))).toEqual({ kind: 'suspend', action: 'power-off' });
  });

  it('refuses while a terminal is attached', () => {
    expect(decideSuspend(base({ warnedAt: 990 * MIN, terminalsAttached: 1 }))).toEqual({ kind: 'refuse', reason: '1 terminal is attached' });
  });

  it('refuses while a tunnel is open, naming it and its user', () => {
    expect(decideSuspend(base({ warnedAt: 990 * MIN, tunnels: ['ssh by ana@example.com'] }))).toEqual({ kind: 'refuse', reason: 'tunnel open: ssh by ana@example.com' });
  });

  it('never acts on a box that is busy, quiet for less than the window, down (unreachable is not idle) or unknown', () => {
    for (const state of [{ state: 'busy', reasons: ['cpu 50%'] }, { state: 'quiet', since: 0 }, { state: 'down', since: 0, reason: 'x' }, { state: 'unknown' }] as IdleState[]) {
      expect(decideSuspend(base({ idle: state, warnedAt: null }))).toEqual({ kind: 'nothing' });
    }
  });

  it('activity withdraws the warning; a box that went down keeps it', () => {
    expect(decideSuspend(base({ idle: { state: 'busy', reasons: [] }, warnedAt: 5 }))).toEqual({ kind: 'clear-warning' });
    expect(decideSuspend(base({ idle: { state: 'down', since: 0, reason: '' }, warnedAt: 5 }))).toEqual({ kind: 'nothing' });
  });

  it('does nothing without an enabled policy with an action, and not twice in one idle period', () => {
    expect(decideSuspend(base({ policy: null }))).toEqual({ kind: 'nothing' });
    expect(decideSuspend(base({ policy: policy({ enabled: false }) }))).toEqual({ kind: 'nothing' });
    expect(decideSuspend(base({ policy: policy({ action: 'none' }), warnedAt: 3 }))).toEqual({ kind: 'clear-warning' });
    expect(decideSuspend(base({ warnedAt: 990 * MIN, suspendedAt: 995 * MIN }))).toEqual({ kind: 'nothing' });
    // A warning from an earlier idle period does not count for this one.
    expect(decideSuspend(base({ warnedAt: 900 * MIN }))).toEqual({ kind: 'warn' });
  });

  it("picks the box's own policy over its tags, and the first tag that has one", () => {
    const policies = [policy({ id: 't1', boxId: null, tag: 'laptop' }), policy({ id: 't2', boxId: null, tag: 'ci' }), policy({ id: 'own', boxId: 'b9' })];
    expect(policyFor({ id: 'b1', tags: ['ci', 'laptop'] }, policies)?.id).toBe('t2');
    expect(policyFor({ id: 'b9', tags: ['ci'] }, policies)?.id).toBe('own');
    expect(policyFor({ id: 'b2', tags: ['other'] }, policies)).toBeNull();
  });
});

describe.each(providers)('AutoSuspender on %s', (provider) => {
  const newDatabase = testDatabases(provider, 'suspend');
  let db: Db;
  let boxId: string;
  let now = 1_000 * MIN;
  let idleState: IdleState = { state: 'busy', reasons: [] };
  let attached = 0;
  let tunnels: string[] = [];
  const calls: { boxId: string; reason: string; action: SuspendAction }[] = [];
  let failuresLeft = 0;

  const resumeBox = async (id: string, reason: string) => {
    calls.push({ boxId: id, reason, action: 'resume' as SuspendAction });
  };
  const suspender = () =>
    new AutoSuspender({
      db,
      idleState: () => idleState,
      terminalsAttached: () => attached,
      tunnelsOpen: () => tunnels,
      warningMs: () => 2 * MIN,
      now: () => now,
      // A real (recording) implementation of the dependency; it fails while failuresLeft > 0.
      suspendBox: async (id, reason, action) => {
        calls.push({ boxId: id, reason, action });
        if (failuresLeft > 0) {
          failuresLeft--;
          throw new Error('the hypervisor said no');
        }
      },
      resumeBox,
      attempts: 3,
      retryDelayMs: 5,
    });

  beforeAll(async () => {
    const seeded = await seededMetricsDatabase(newDatabase);
    db = seeded.db;
    boxId = await seeded.addBox('vm1', ['laptop']);
    await db.suspendPolicy.create({ data: { tag: 'laptop', idleMinutes: 10, action: 'suspend' } });
  });
  afterAll(() => db.$disconnect());
  beforeEach(() => {
    calls.length = 0;
  });

  const audit = (action: string) => db.auditEvent.findMany({ where: { action, boxId }, orderBy: { at: 'asc' } });
  const boxRow = () => db.box.findUniqueOrThrow({ where: { id: boxId } });

  it('warns (visible on the box, audited), refuses while a terminal is attached, then suspends once', async () => {
    const s = suspender();
    idleState = { state: 'idle', since: now - 11 * MIN };
    await s.tick();
    expect((await boxRow()).suspendWarnedAt?.getTime()).toBe(now);
    expect(await audit('box.autosuspend.warn')).toHaveLength(1);
    expect(calls).toEqual([]);

    now += 2 * MIN;
    attached = 1;
    await s.tick();
    await s.tick(); // refused once per idle period in the audit log
    expect(calls).toEqual([]);
    const refused = await audit('box.autosuspend');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ result: 'error', error: 'refused: 1 terminal is attached' });

    attached = 0;
    await s.tick();
    expect(calls).toEqual([{ boxId, reason: expect.stringContaining('idle since'), action: 'suspend' }]);
    expect((await boxRow()).autoSuspendedAt?.getTime()).toBe(now);
    expect((await audit('box.autosuspend')).at(-1)).toMatchObject({ result: 'ok' });
    await s.tick();
    expect(calls).toHaveLength(1); // not again in the same idle period
  });

  it('resume-on-demand resumes a box the policy suspended and clears its marks', async () => {
    const resume = (actor: Actor) => resumeOnDemand({ db, resumeBox }, boxId, actor);
    expect(await resume({ id: null, email: 'dev@example.com' })).toBe('resumed');
    expect(calls).toEqual([{ boxId, reason: 'terminal opened by dev@example.com', action: 'resume' }]);
    expect(await boxRow()).toMatchObject({ autoSuspendedAt: null, suspendWarnedAt: null });
    expect(await resume({ id: null, email: 'dev@example.com' })).toBe('not-suspended');
    expect(calls).toHaveLength(1);
  });

  it('retries a failing suspend, then reports it (audit + lastFailure) and does not hammer', async () => {
    const s = suspender();
    now += 60 * MIN;
    idleState = { state: 'idle', since: now - 20 * MIN };
    await s.tick(); // warn
    now += 3 * MIN;
    failuresLeft = 5;
    await s.tick();
    expect(calls).toHaveLength(3);
    expect(s.lastFailure(boxId)?.message).toBe('the hypervisor said no');
    expect((await audit('box.autosuspend')).at(-1)).toMatchObject({ result: 'error', error: 'the hypervisor said no' });
    await s.tick();
    expect(calls).toHaveLength(3);
    // Activity clears the warning.
    idleState = { state: 'busy', reasons: ['cpu 80%'] };
    await s.tick();
    expect((await boxRow()).suspendWarnedAt).toBeNull();
  });

  it('without a wired lifecycle the action fails with a plain error, never silently', async () => {
    const s = new AutoSuspender({ db, idleState: () => idleState, terminalsAttached: () => 0, warningMs: () => 0, now: () => now, suspendBox: null, resumeBox: null, attempts: 1 });
    now += 60 * MIN;
    idleState = { state: 'idle', since: now - 20 * MIN };
    await s.tick();
    await s.tick();
    expect(s.lastFailure(boxId)?.message).toMatch(/not wired/);
  });

  it('never suspends a box under an open tunnel; suspends once it closed', async () => {
    const s = suspender();
    failuresLeft = 0;
    now += 120 * MIN;
    idleState = { state: 'idle', since: now - 11 * MIN };
    await s.tick(); // warn
    now += 2 * MIN;
    tunnels = ['ssh by ana@example.com'];
    await s.tick();
    expect(calls).toEqual([]);
    expect((await audit('box.autosuspend')).at(-1)).toMatchObject({ result: 'error', error: 'refused: tunnel open: ssh by ana@example.com' });
    tunnels = [];
    await s.tick();
    expect(calls).toEqual([{ boxId, reason: expect.stringContaining('idle since'), action: 'suspend' }]);
  });
});

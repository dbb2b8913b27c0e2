// Auto-suspend end to end on a lab box, with a real browser-style terminal (WebSocket -> TerminalManager -> SSH PTY):
// while the terminal is attached the box is busy and never suspended; once it closes the box goes idle within the
// (shortened) window, is warned, then suspended through the injected suspendBox (recorded here: the lead wires the
// VM lifecycle); opening a terminal afterwards resumes it through resumeOnDemand. While this dashboard does not hold
// the fleet lease (another dashboard on the same database does), it sees the box idle but leaves the policy alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import { startBackend, TestTerminal, type Backend } from '../../testing/helpers/terminals';
import type { MetricsService } from './service';
import { resumeOnDemand, type SuspendAction } from './suspend';
import { testMetrics } from '../../testing/helpers/metrics';
import { until } from '../../testing/helpers/wait';

describe('auto-suspend on a lab box with a real terminal', () => {
  let box: LabBox;
  let backend: Backend;
  let metrics: MetricsService;
  let boxId: string;
  let url: string;
  const calls: { what: SuspendAction | 'resume'; reason: string }[] = [];
  const resumeBox = async (_id: string, reason: string) => void calls.push({ what: 'resume', reason });
  let leading = false;

  beforeAll(async () => {
    box = await startLabBox({ namePrefix: 'metrics-suspend' });
    backend = await startBackend();
    await box.authorize(backend.services.dashboardPublicKey);
    url = await backend.listen();
    boxId = (await backend.addBox('idle-vm', box, backend.admin)).id;
    // Policy: 2 "minutes" of 1 s each after a 2 s idle window, 1 s warning.
    await backend.services.db.suspendPolicy.create({ data: { boxId, idleMinutes: 2, action: 'suspend' } });
    metrics = testMetrics(backend, {
      policyMinuteMs: 1_000,
      settingsOverride: { slowIntervalS: 1, fastIntervalS: 0.5, idleWindowS: 2, idleCpuPct: 10, suspendWarningS: 1 },
      suspendBox: async (_id, reason, action) => void calls.push({ what: action, reason }),
      resumeBox,
      leads: () => leading,
    });
    await metrics.start({ only: [boxId] });
  }, 180_000);

  afterAll(async () => {
    await metrics?.stop();
    await backend?.stop();
    await box?.remove();
  });

  it('never suspends while a terminal is attached; suspends after it closes; a new terminal resumes', async () => {
    const terminal = new TestTerminal(url, boxId, { cookie: backend.admin.cookie, origin: backend.origin });
    await terminal.until(() => terminal.messages.some((m) => m.type === 'state' && m.state === 'ready'), 'terminal ready');
    expect(metrics.terminalsOn(boxId)).toEqual({ open: 1, attached: 1 });
    // Ten samples (10 s: far past window + policy + warning = 5 s) with the terminal attached: busy throughout.
    const start = metrics.sampler.recent(boxId).length;
    await until(() => {
      const state = metrics.idleState(boxId);
      if (state.state === 'idle') throw new Error('the box went idle with a terminal attached');
      return metrics.sampler.recent(boxId).length >= start + 10;
    }, 'ten samples with the terminal attached', 40_000);
    expect(metrics.idleState(boxId)).toMatchObject({ state: 'busy', reasons: expect.arrayContaining([expect.stringContaining('terminal')]) });
    expect(calls).toEqual([]);
    expect((await backend.services.db.box.findUniqueOrThrow({ where: { id: boxId } })).suspendWarnedAt).toBeNull();

    terminal.send({ type: 'close' });
    await terminal.closed;
    // Not leading: idle here, but for 6 s (past window + policy + warning) no warning, no suspend, nothing stored.
    await until(() => metrics.idleState(boxId).state === 'idle', 'idle', 30_000);
    const idleFrom = metrics.sampler.recent(boxId).length;
    await until(() => {
      if (calls.length > 0) throw new Error('suspended without the lease');
      return metrics.sampler.recent(boxId).length >= idleFrom + 6;
    }, 'six idle samples (6 s at least: past window + policy + warning)', 40_000);
    expect(metrics.idleState(boxId).state).toBe('idle');
    expect(calls).toEqual([]);
    expect(await backend.services.db.box.findUniqueOrThrow({ where: { id: boxId } })).toMatchObject({ suspendWarnedAt: null, idleSince: null });
    leading = true;
    await until(async () => (await backend.services.db.box.findUniqueOrThrow({ where: { id: boxId } })).suspendWarnedAt, 'the warning', 30_000);
    await until(() => calls.length > 0, 'the suspend', 30_000);
    expect(calls[0]).toMatchObject({ what: 'suspend', reason: expect.stringContaining('idle since') });
    expect((await backend.services.db.box.findUniqueOrThrow({ where: { id: boxId } })).autoSuspendedAt).not.toBeNull();
    const audit = await backend.services.db.auditEvent.findMany({ where: { boxId, action: { startsWith: 'box.autosuspend' } }, orderBy: { at: 'asc' } });
    expect(audit.map((a) => [a.action, a.result])).toEqual([
      ['box.autosuspend.warn', 'ok'],
      ['box.autosuspend', 'ok'],
    ]);

    // Resume-on-demand, as the terminal open path will call it (wired by the lead).
    expect(await resumeOnDemand({ db: backend.services.db, resumeBox }, boxId, backend.admin.user)).toBe('resumed');
    expect(calls.at(-1)).toEqual({ what: 'resume', reason: `terminal opened by ${backend.admin.user.email}` });
  }, 120_000);
});

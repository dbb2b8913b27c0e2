// The sampler against a real lab box (Debian container running OpenSSH sshd): samples stream over the box's one
// pooled connection from one process, the interval follows watchers, real CPU load makes the box busy and its end
// makes it idle within the (shortened) window, and an sshd restart is a marked gap, never idle time. Run for both
// samplers: the compiled one (uploaded to the box by the first stream) and the bash one (compiled builds withheld).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import type { MetricsService } from './service';
import { samplerProcesses } from '../../testing/helpers/load-balancer';
import { startMetricsBackend, testMetrics, type MetricsBackend } from '../../testing/helpers/metrics';
import { until } from '../../testing/helpers/wait';

const LAB_START_TIMEOUT_MS = 180_000;

describe.each(['c', 'bash'] as const)('metrics sampler on a lab box (%s)', (implementation) => {
  let box: LabBox;
  let backend: MetricsBackend;
  let metrics: MetricsService;
  let boxId: string;

  const samples = () => metrics.sampler.recent(boxId).filter((e) => !e.gap);
  const uploads = () => backend.services.db.auditEvent.count({ where: { action: 'box.sampler.upload', boxId } });

  beforeAll(async () => {
    box = await startLabBox({ namePrefix: 'metrics' });
    backend = await startMetricsBackend();
    await box.authorize(backend.services.dashboardPublicKey);
    boxId = (await backend.addBox('sampled', box)).id;
    metrics = testMetrics(backend, implementation === 'bash' ? { sampler: { compiled: [] } } : {});
    await metrics.start({ only: [boxId] });
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    await metrics?.stop();
    await backend?.stop();
    await box?.remove();
  });

  it('streams samples from ONE long-lived process over the pooled connection, forking nothing per sample', async () => {
    await until(() => samples().length >= 2, 'two samples');
    const before = await samplerProcesses(box);
    expect(before).toHaveLength(1);
    // No docker exec from here on: the box's own last pid (in each sample) must not move while samples arrive.
    const count = samples().length;
    await until(() => samples().length >= count + 5, 'five more samples');
    const pids = samples().slice(-5).map((s) => s.lastPid);
    expect(pids[0]).toBeGreaterThan(0);
    expect(new Set(pids)).toEqual(new Set([pids[0]]));
    expect(await samplerProcesses(box)).toEqual(before);
    expect(backend.services.pool.stats().connections).toBe(1);
    const latest = metrics.sampler.latest(boxId)!;
    expect(latest.cpuPct).not.toBeNull();
    expect(latest.memTotalBytes).toBe(384 * 1024 * 1024); // the lab box's memory limit
    expect(latest.sessions).toBe(0); // the dashboard's own connection is not a login
    // Logins are counted from sshd's children list (one file), not by scanning every process.
    expect(metrics.sampler.streamView(boxId)!.compiledNote).toBeNull();
    expect(metrics.sampler.streamView(boxId)!.header).toMatchObject({ container: true, sessionsMethod: 'children', implementation });
    // The compiled build reached the box once (an audited upload); the bash sampler needs none.
    expect(await uploads()).toBe(implementation === 'c' ? 1 : 0);
  });

  it('samples fast while the box is watched, slow again after', async () => {
    const gapsOf = (n: number) => {
      const list = samples().slice(-n);
      return list.slice(1).map((s, i) => s.at - list[i]!.at);
    };
    metrics.sampler.watch(boxId, 60_000);
    const start = samples().length;
    await until(() => samples().length >= start + 6, 'six fast samples');
    // 0.5 s interval: the median gap, since one late sample on a loaded machine says nothing about the interval.
    const fast = gapsOf(6).sort((a, b) => a - b);
    expect(fast[Math.floor(fast.length / 2)]).toBeLessThan(800);
    metrics.sampler.unwatch(boxId);
    const again = samples().length;
    await until(() => samples().length >= again + 4, 'four slow samples');
    expect(Math.min(...gapsOf(3))).toBeGreaterThan(800); // 1 s interval
  });

  it('a real busy loop makes the box busy; killing it makes the box idle within the window', async () => {
    await box.root("nohup setsid bash -c 'while :; do :; done' >/dev/null 2>&1 & echo started");
    const busy = await until(() => {
      const state = metrics.idleState(boxId);
      return state.state === 'busy' && state.reasons.some((r) => r.startsWith('cpu')) ? state : null;
    }, 'busy from CPU');
    expect(busy.state).toBe('busy');
    expect(metrics.sampler.latest(boxId)!.cpuPct!).toBeGreaterThan(10);
    await box.root("pkill -f 'while :; do :; done'");
    const killedAt = Date.now();
    await until(() => metrics.idleState(boxId).state === 'idle', 'idle after the loop ended', 30_000);
    const took = Date.now() - killedAt;
    expect(took).toBeGreaterThanOrEqual(3_000); // the window
    console.log(`busy loop killed -> idle after ${took} ms (window 3 s, samples every 1 s)`);
    // idleSince is stored on the box.
    await until(async () => (await backend.services.db.box.findUnique({ where: { id: boxId } }))?.idleSince, 'idleSince stored');
  }, 60_000);

  it('an SSH login on the box counts as activity; the dashboard itself never does', async () => {
    const { Client } = (await import('ssh2')).default;
    const client = new Client();
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve()).once('error', reject).connect({ host: box.host, port: box.port, username: 'dev', password: box.password });
    });
    try {
      await until(() => metrics.sampler.latest(boxId)?.sessions === 1, 'one login seen');
      expect(metrics.idleState(boxId)).toMatchObject({ state: 'busy', reasons: expect.arrayContaining(['1 SSH login']) });
    } finally {
      client.end();
    }
    await until(() => metrics.sampler.latest(boxId)?.sessions === 0, 'login gone');
  }, 30_000);

  it("reconnects after the box's sshd restarts; the outage is a gap and the box is down, not idle", async () => {
    const reconnectsBefore = metrics.sampler.streamView(boxId)!.reconnects;
    await box.stopSshd();
    await until(() => metrics.sampler.recent(boxId).at(-1)?.gap, 'a gap marked');
    expect(metrics.idleState(boxId).state).toBe('down');
    expect(metrics.sampler.isUp(boxId)).toBe(false);
    await box.startSshd();
    await until(() => !metrics.sampler.recent(boxId).at(-1)?.gap && metrics.sampler.latest(boxId)?.cpuPct != null, 'samples again', 60_000);
    const ring = metrics.sampler.recent(boxId);
    const gapIndex = ring.findIndex((e) => e.gap);
    expect(gapIndex).toBeGreaterThan(0);
    // The first sample after the gap has no CPU figure (no delta across the outage): null, never zero.
    const afterGap = ring[gapIndex + 1]!;
    expect(afterGap.gap).toBeFalsy();
    expect(!afterGap.gap && afterGap.cpuPct).toBeNull();
    expect(metrics.sampler.streamView(boxId)!.reconnects).toBeGreaterThan(reconnectsBefore);
    expect(await samplerProcesses(box)).toHaveLength(1);
    // The box kept its copy of the compiled sampler: the new stream did not upload it again.
    expect(await uploads()).toBe(implementation === 'c' ? 1 : 0);
    expect(metrics.sampler.streamView(boxId)!.header?.implementation).toBe(implementation);
  }, 90_000);

  it('moves to the new login after SshPool.refresh, so the old connection closes; no gap', async () => {
    const { pool } = backend.services;
    const gapsBefore = metrics.sampler.recent(boxId).filter((e) => e.gap).length;
    const before = await samplerProcesses(box);
    pool.refresh(boxId);
    await until(async () => {
      const now = await samplerProcesses(box);
      return now.length === 1 && now[0] !== before[0] && pool.stats().connections === 1;
    }, 'a new sampler on one connection', 20_000);
    const count = samples().length;
    await until(() => samples().length >= count + 2, 'samples on the new login');
    expect(metrics.sampler.recent(boxId).filter((e) => e.gap).length).toBe(gapsBefore);
    expect(metrics.sampler.latest(boxId)!.cpuPct).not.toBeNull(); // deltas go on across the move
  }, 30_000);

  it('stop() ends the sampler on the box (EOF on its stdin), leaving nothing behind', async () => {
    await metrics.stop();
    await until(async () => (await samplerProcesses(box)).length === 0, 'the sampler process gone', 10_000);
  });
});

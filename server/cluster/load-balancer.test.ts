// Three dashboard processes (real child processes) on one PostgreSQL database behind Debian's nginx, round-robin:
// every lab box has exactly one sampler stream (counted on the boxes), any process serves every box's live samples
// through the load balancer, a process killed with SIGKILL has its boxes sampled again by the others within 15 s
// with a gap marked (never zeros), a fourth process with a live runner id is refused at start, and Debian's
// Prometheus scraping the three processes finds each one's series (one fleet lease holder, one stream per box).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBoxes, type LabBox } from '../../testing/lab/lab';
import { signedInApi, type Api } from '../../testing/helpers/e2e/api';
import { testDatabases } from '../../testing/helpers/databases';
import { freePort, startDashboardProcess, startNginx, type DashboardProcess, type LoadBalancer } from '../../testing/helpers/load-balancer';
import { startPrometheus, type Prometheus } from '../../testing/helpers/prometheus';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { until } from '../../testing/helpers/wait';
import { createBox } from '../boxes/boxes';
import { loadEnv } from '../env';
import { startServices, stopServices } from '../services';
import { rendezvousOwner } from './registry';

const BOXES = 6;
const PASSWORD = 'cluster-test-password';
const ADMIN = 'admin@boxyard.local';
const METRICS_TOKEN = 'cluster-scrape-token-0123456789';

describe('three dashboard processes behind nginx on PostgreSQL', () => {
  const newDatabase = testDatabases('postgres', 'cluster');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-cluster-'));
  let boxes: LabBox[] = [];
  const boxIds = new Map<string, LabBox>();
  let processes: DashboardProcess[] = [];
  let balancer: LoadBalancer;
  let prometheus: Prometheus;
  let api: Api;
  let env: Record<string, string>;

  /** Sampler processes running on the box (the compiled one, or the bash one where it fell back). */
  const samplerStreams = async (box: LabBox) =>
    (await box.root("pgrep -u dev -f -- '^bash --noprofile --norc -c|/boxyard-sampler-' || true")).stdout.trim().split('\n').filter(Boolean).length;
  const streamsPerBox = () => Promise.all(boxes.map(samplerStreams));

  beforeAll(async () => {
    const [databaseUrl, labBoxes, lbPort] = await Promise.all([newDatabase(), startLabBoxes(BOXES, { namePrefix: 'cluster' }), freePort()]);
    boxes = labBoxes;
    env = {
      DATABASE_URL: databaseUrl,
      BOXYARD_DATA_DIR: dataDir,
      BOXYARD_SECRET_KEY: randomBytes(32).toString('base64'),
      BOXYARD_ADMIN_PASSWORD: PASSWORD,
      BOXYARD_URL: `http://127.0.0.1:${lbPort}`,
      BOXYARD_METRICS_TOKEN: METRICS_TOKEN,
      LOG_LEVEL: 'warn',
    };
    // The boxes, with the dashboard's own code; this process then leaves the registry before the three start.
    const { services: setup } = await startServices(loadEnv({ ...env, JOB_RUNNER_ID: 'cluster-setup' }), { pollStatus: false });
    try {
      const admin = await setup.db.user.findFirstOrThrow({ where: { role: 'admin' } });
      for (const [i, box] of boxes.entries()) {
        await box.authorize(setup.dashboardPublicKey);
        const created = await createBox(setup.db, setup.secrets, { id: admin.id, email: admin.email, name: admin.name, role: 'admin' }, {
          name: `cluster-${i}`, host: box.host, port: box.port, sshUser: 'dev', tags: [], notes: '', memberIds: [], auth: { method: 'dashboard-key' },
        });
        boxIds.set(created.id, box);
      }
    } finally {
      await stopServices(setup);
    }
    processes = await Promise.all(['dashboard-a', 'dashboard-b', 'dashboard-c'].map((id) => startDashboardProcess(id, env)));
    balancer = await startNginx(lbPort, processes.map((one) => one.port));
    prometheus = await startPrometheus(processes.map((one) => `127.0.0.1:${one.port}`), METRICS_TOKEN);
    ({ client: api } = await signedInApi(balancer.url, { email: ADMIN, password: PASSWORD }));
  }, LAB_START_TIMEOUT_MS + 120_000);

  afterAll(async () => {
    for (const one of processes) one.running.kill('SIGKILL');
    await Promise.all(processes.map((one) => one.running.exited));
    await balancer?.stop();
    await prometheus?.stop();
    await Promise.all(boxes.map((box) => box.remove()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The box's latest sample as the process that nginx chose for this request serves it. */
  const latestThroughBalancer = async (boxId: string) => (await api.metrics.status.query({ boxId })).latest;

  it('samples every box from exactly one process, and every process serves every box through the balancer', async () => {
    await until(async () => (await streamsPerBox()).every((count) => count === 1), 'one sampler stream on each box', {
      timeoutMs: 60_000,
      describe: async () => `streams per box: ${(await streamsPerBox()).join(', ')}`,
    });
    // The three processes answer in turn, each with every box's live sample (its own, or one another process published).
    const upstreams = new Set<string>();
    for (let round = 0; round < 6; round++) {
      const answer = await fetch(`${balancer.url}/api/health`);
      expect(answer.status).toBe(200);
      upstreams.add(answer.headers.get('x-boxyard-upstream') ?? '');
    }
    expect(upstreams).toEqual(new Set(processes.map((one) => `127.0.0.1:${one.port}`)));
    for (const boxId of boxIds.keys()) {
      for (let round = 0; round < 3; round++) {
        const latest = await until(() => latestThroughBalancer(boxId), `a live sample of ${boxId} from every process`, 30_000);
        expect(latest.memTotalBytes).toBeGreaterThan(0);
      }
    }
    // And still one stream each: serving them did not start any elsewhere.
    expect(await streamsPerBox()).toEqual(boxes.map(() => 1));
  }, 120_000);

  it('refuses a fourth process with the runner id of a live one, in a plain sentence', async () => {
    const refused = await startDashboardProcess('dashboard-b', env).catch((error: unknown) => error as Error);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toMatch(/exited with code 1: .*Another dashboard process is running with the runner id "dashboard-b" \(pid \d+ on .+\): give each process its own JOB_RUNNER_ID, or stop that one first\./s);
  }, 60_000);

  it("Prometheus scrapes each of the three processes: its own metrics, the fleet lease held by one, each box's stream owned by one", async () => {
    const byRunner = async (promql: string) => Object.fromEntries((await prometheus.query(promql)).map((one) => [one.metric.runner ?? one.metric.instance, one.value]));
    const targets = Object.fromEntries(processes.map((one) => [`127.0.0.1:${one.port}`, 1]));
    await until(async () => isDeepStrictEqual(await byRunner('up'), targets), 'Prometheus to scrape all three processes', {
      timeoutMs: 30_000,
      describe: async () => `up: ${JSON.stringify(await byRunner('up'))}; targets: ${JSON.stringify(await (await fetch(`${prometheus.url}/api/v1/targets`)).json())}`,
    });
    const info = await prometheus.query('boxyard_process_info');
    expect(Object.fromEntries(info.map((one) => [one.metric.instance, one.metric.runner]))).toEqual(Object.fromEntries(processes.map((one) => [`127.0.0.1:${one.port}`, one.runnerId])));
    // Series joined to their runner id through boxyard_process_info, as the Grafana dashboard does.
    const perRunner = (metric: string) => byRunner(`${metric} * on(instance) group_left(runner) boxyard_process_info`);
    const runners = processes.map((one) => one.runnerId).sort();
    expect(Object.keys(await perRunner('process_resident_memory_bytes')).sort()).toEqual(runners);
    for (const rss of Object.values(await perRunner('process_resident_memory_bytes'))) expect(rss).toBeGreaterThan(10_000_000);
    expect(Object.values(await perRunner('boxyard_cluster_live_processes'))).toEqual([3, 3, 3]);
    await until(async () => (await prometheus.query('sum(boxyard_lease_held{lease="fleet-policies"})'))[0]?.value === 1, 'one fleet lease holder', 30_000);
    // Every box sampled by exactly one process: owned streams add up to the boxes, each process follows the rest.
    await until(async () => (await prometheus.query('sum(boxyard_sampler_streams{role="owned"})'))[0]?.value === BOXES, `${BOXES} owned sampler streams`, 30_000);
    const streamsSeen = async () => {
      const [owned, followed] = await Promise.all([perRunner('boxyard_sampler_streams{role="owned"}'), perRunner('boxyard_sampler_streams{role="followed"}')]);
      return runners.map((runner) => (owned[runner] ?? 0) + (followed[runner] ?? 0));
    };
    await until(async () => (await streamsSeen()).every((count) => count === BOXES), 'each process to own or follow every box', {
      timeoutMs: 30_000,
      describe: async () => `owned + followed per process: ${(await streamsSeen()).join(', ')}`,
    });
  }, 90_000);

  it('a process killed with SIGKILL: its boxes are sampled again by the others within 15 s, with a gap, not zeros', async () => {
    const victim = processes[0]!;
    const runnerIds = processes.map((one) => one.runnerId);
    const orphaned = [...boxIds.keys()].filter((id) => rendezvousOwner(id, runnerIds) === victim.runnerId);
    expect(orphaned.length).toBeGreaterThan(0);
    const killedAt = Date.now();
    victim.running.kill('SIGKILL');
    await victim.running.exited;
    // A new sample of each of its boxes, taken after the kill, through the balancer (which skips the dead process).
    await until(
      async () => {
        for (const boxId of orphaned) {
          const latest = await latestThroughBalancer(boxId).catch(() => null);
          if (!latest || latest.at <= killedAt) return false;
        }
        return true;
      },
      'the orphaned boxes to be sampled again',
      20_000,
    );
    const resampledAfterMs = Date.now() - killedAt;
    expect(resampledAfterMs).toBeLessThan(15_000);
    await until(async () => (await streamsPerBox()).every((count) => count === 1), 'one sampler stream on each box again', {
      timeoutMs: 20_000,
      describe: async () => `streams per box: ${(await streamsPerBox()).join(', ')}`,
    });
    // The series shows the time between as a gap (null figures), and no zero stands in for a missing sample.
    for (const boxId of orphaned) {
      const { points } = await api.metrics.series.query({ boxId, from: killedAt - 120_000, to: Date.now() + 1_000 });
      const before = points.filter((point) => point.at < killedAt && point.memUsedBytes !== null);
      const after = points.filter((point) => point.at > killedAt && point.memUsedBytes !== null);
      expect(before.length).toBeGreaterThan(0);
      expect(after.length).toBeGreaterThan(0);
      const between = points.filter((point) => point.at > before[before.length - 1]!.at && point.at < after[0]!.at);
      expect(between.length).toBeGreaterThan(0);
      expect(between.every((point) => point.memUsedBytes === null && point.cpuPct === null)).toBe(true);
      expect(points.some((point) => point.memUsedBytes === 0)).toBe(false);
    }
  }, 90_000);
});

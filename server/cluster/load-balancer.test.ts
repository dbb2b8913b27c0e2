// Three dashboard processes (real child processes) on one PostgreSQL database behind Debian's nginx, round-robin,
// with 20 lab boxes: every box has exactly one sampler stream (counted on the boxes), any process serves every box's
// live samples through the load balancer, a process killed with SIGKILL has its boxes sampled again by the others
// within 15 s with a gap marked (never zeros) and its provisioning job resumed by another, a fourth process with a
// live runner id is refused at start, and Debian's
// Prometheus scraping the three processes finds each one's series (one fleet lease holder, one stream per box).
// Terminals: opened through nginx, re-attached with replay on whichever process nginx picks (forwarded to the
// holder), refused on the internal route without the processes' key, and a killed holder's session reported in plain words.
// A rolling restart with Docker provisioning running: the job is handed over and finishes once, no step applied twice.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startLabBox, startLabBoxes, type LabBox } from '../../testing/lab/lab';
import { signedInApi, type Api } from '../../testing/helpers/e2e/api';
import { testDatabases } from '../../testing/helpers/databases';
import { addSharedBoxes, samplerProcesses, startDashboardProcess, startNginx, type DashboardProcess, type LoadBalancer } from '../../testing/helpers/load-balancer';
import { startPrometheus, type Prometheus } from '../../testing/helpers/prometheus';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { rawRequest, startPreviewApp } from '../../testing/helpers/previews';
import { CLI_SOURCE as CLI, freePort, runProcess, TSX } from '../../testing/helpers/process';
import { TestTerminal } from '../../testing/helpers/terminals';
import { until } from '../../testing/helpers/wait';
import { PREVIEW_OPEN_PATH } from '../../lib/preview';
import { createApiToken } from '../access-keys/api-tokens';
import { createDb, type Db } from '../db/client';
import { rendezvousOwner } from './registry';
import { SESSION_PROCESS_STOPPED } from './terminal-sessions';

/** Lab boxes; the last two can run Docker (provisioned through a SIGKILL and through the rolling restart). */
const BOXES = 20;
/** Job leases in the processes: a killed process's job is resumed by another this long after its last renewal. */
const JOB_LEASE_MS = 6_000;
const PREVIEW_PORT = 8131;
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
  let cookie: string;
  let db: Db;
  let env: Record<string, string>;

  const streamsPerBox = () => Promise.all(boxes.map(async (box) => (await samplerProcesses(box)).length));

  beforeAll(async () => {
    const [databaseUrl, labBoxes, dockerBoxes, lbPort] = await Promise.all([
      newDatabase(),
      startLabBoxes(BOXES - 2, { namePrefix: 'cluster' }),
      Promise.all([1, 2].map(() => startLabBox({ namePrefix: 'cluster-docker', dockerCapable: true }))),
      freePort(),
    ]);
    boxes = [...labBoxes, ...dockerBoxes];
    env = {
      DATABASE_URL: databaseUrl,
      BOXYARD_DATA_DIR: dataDir,
      BOXYARD_SECRET_KEY: randomBytes(32).toString('base64'),
      BOXYARD_ADMIN_PASSWORD: PASSWORD,
      BOXYARD_URL: `http://127.0.0.1:${lbPort}`,
      BOXYARD_METRICS_TOKEN: METRICS_TOKEN,
      JOB_LEASE_MS: String(JOB_LEASE_MS),
      LOG_LEVEL: 'warn',
    };
    for (const [i, id] of (await addSharedBoxes(env, boxes, 'cluster')).entries()) boxIds.set(id, boxes[i]!);
    processes = await Promise.all(['dashboard-a', 'dashboard-b', 'dashboard-c'].map((id) => startDashboardProcess(id, env)));
    balancer = await startNginx(lbPort, processes.map((one) => one.port));
    prometheus = await startPrometheus(processes.map((one) => `127.0.0.1:${one.port}`), METRICS_TOKEN);
    ({ client: api, cookie } = await signedInApi(balancer.url, { email: ADMIN, password: PASSWORD }));
    db = createDb(databaseUrl);
  }, LAB_START_TIMEOUT_MS + 120_000);

  afterAll(async () => {
    for (const one of processes) one.running.kill('SIGKILL');
    await Promise.all(processes.map((one) => one.running.exited));
    await balancer?.stop();
    await prometheus?.stop();
    await db?.$disconnect();
    await Promise.all(boxes.map((box) => box.remove()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  const wsUrl = () => balancer.url.replace(/^http/, 'ws');
  /** A browser's terminal through nginx: the admin's cookie, the dashboard's Origin. */
  const terminal = (boxId: string, options: { session?: string; mode?: 'new' | 'attach' } = {}) =>
    new TestTerminal(wsUrl(), boxId, { cookie, origin: balancer.url, ...options });
  /** The process nginx chose for a WebSocket, by its port. */
  const upstreamOf = async (one: TestTerminal) => {
    // nginx lists every upstream it tried ("dead:port, live:port"): the last one answered.
    const upstream = String((await one.upgradeHeaders)['x-boxyard-upstream'] ?? '').split(', ').at(-1);
    const chosen = processes.find((candidate) => upstream === `127.0.0.1:${candidate.port}`);
    if (!chosen) throw new Error(`no dashboard process answered at ${upstream}`);
    return chosen;
  };
  const holderOf = async (session: string) =>
    (await db.$queryRaw<{ runnerId: string }[]>`SELECT "runnerId" FROM terminal_session WHERE "sessionId" = ${session}`)[0]?.runnerId ?? null;

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
  it('a terminal opened through nginx keeps working and re-attaches with replay on whichever process takes the attach', async () => {
    const [boxId] = [...boxIds.keys()];
    const opened = terminal(boxId!);
    const holder = await upstreamOf(opened);
    // New sessions open on the process that received them, recorded as its own.
    await opened.untilMessage('state', (m) => m.state === 'ready', 30_000);
    expect(await holderOf(opened.session)).toBe(holder.runnerId);
    opened.type('echo first-$((40+2))\n');
    await opened.untilOutput('first-42');
    await opened.drop();

    // Round-robin sends the attaches to the three processes in turn: those on another process are forwarded.
    const servedBy = new Set<string>();
    let forwarded = 0;
    for (let round = 0; round < 4; round++) {
      const attached = terminal(boxId!, { session: opened.session, mode: 'attach' });
      const receiver = await upstreamOf(attached);
      servedBy.add(receiver.runnerId);
      if (receiver.runnerId !== holder.runnerId) forwarded++;
      await attached.untilOutput('first-42'); // the replay of the history
      attached.type(`echo round-$((${round}+100))\n`);
      await attached.untilOutput(`round-${round + 100}`);
      await attached.drop();
      // Still held where it was opened: nothing moved the shell.
      expect(await holderOf(opened.session)).toBe(holder.runnerId);
    }
    expect(forwarded).toBeGreaterThanOrEqual(2);
    expect(servedBy.size).toBeGreaterThanOrEqual(2);

    // Ended on its holder (the shell exits), the row goes: an attach through any process says it ended.
    const last = terminal(boxId!, { session: opened.session, mode: 'attach' });
    await last.untilOutput('round-103');
    last.type('exit\n');
    expect((await last.closed).code).toBe(4409);
    await until(async () => (await holderOf(opened.session)) === null, 'the ended session to leave the directory', 10_000);
  }, 120_000);

  it('refuses the internal terminal route to anyone without the processes\' key, a signed-in user included', async () => {
    const [boxId] = [...boxIds.keys()];
    const direct = processes[1]!;
    const params = new URLSearchParams({ session: 'probe-session', box: boxId!, cols: '80', rows: '24', mode: 'new' });
    const statusOf = (headers: Record<string, string>) => {
      // From the dashboard's Origin with the admin's cookie: only the processes' key is missing.
      const socket = new WebSocket(`ws://127.0.0.1:${direct.port}/api/internal/terminal?${params}`, { origin: balancer.url, headers: { cookie, ...headers } });
      socket.on('error', () => undefined);
      return new Promise<number>((resolve) => {
        socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        socket.once('open', () => {
          socket.terminate();
          resolve(101);
        });
      });
    };
    expect(await statusOf({})).toBe(403);
    expect(await statusOf({ 'x-boxyard-internal': 'guessed' })).toBe(403);
    expect(await holderOf('probe-session')).toBeNull();
  }, 30_000);

  it('a tunnel (the real ssh through `boxyard proxy`) and a preview through nginx, whichever process takes each request', async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'boxyard-cluster-home-'));
    try {
      const labKey = path.join(home, 'lab_ed25519');
      writeFileSync(labKey, boxes[0]!.privateKey, { mode: 0o600 });
      const admin = await db.user.findFirstOrThrow({ where: { role: 'admin' } });
      const { token } = await createApiToken(db, { id: admin.id, email: admin.email, name: admin.name, role: 'admin' }, 'cluster tunnel');
      const cliEnv = { PATH: process.env.PATH, HOME: home, NODE_ENV: 'test' } as NodeJS.ProcessEnv;
      const connected = await runProcess(TSX, [CLI, 'connect', '--url', balancer.url, '--token', token, '--identity-file', labKey, '--no-docker-contexts'], { env: cliEnv, timeoutMs: 60_000 });
      expect(connected.stderr).not.toMatch(/boxyard:/);
      expect(connected.code).toBe(0);
      const sshOptions = ['-F', path.join(home, '.ssh', 'config'), '-o', 'StrictHostKeyChecking=accept-new', '-o', `UserKnownHostsFile=${path.join(home, 'known_hosts')}`, '-o', 'BatchMode=yes', '-o', 'ControlMaster=no', '-o', 'ControlPath=none'];
      // Three in a row: round-robin gives each tunnel WebSocket to the next process, each with its own pool.
      for (let round = 0; round < 3; round++) {
        const ran = await runProcess('ssh', [...sshOptions, 'cluster-0', `echo tunnel-$((${round}+7))`], { env: cliEnv, timeoutMs: 60_000 });
        expect(ran.stderr).not.toMatch(/boxyard:/);
        expect(ran.code).toBe(0);
        expect(ran.stdout.trim()).toBe(`tunnel-${round + 7}`);
      }

      // A preview (the path form): the open, the redeem and the app's requests land on different processes in turn.
      await startPreviewApp(boxes[0]!, PREVIEW_PORT);
      const open = await rawRequest(balancer.url, `${PREVIEW_OPEN_PATH}?box=cluster-0&port=${PREVIEW_PORT}&path=/x`, { headers: { cookie } });
      expect(open.status).toBe(302);
      const location = new URL(open.headers.location!);
      const redeem = await rawRequest(balancer.url, location.pathname + location.search);
      const keyed = /^(\/preview\/[^/]+\/\d+\/~[A-Za-z0-9_.-]+)\/x$/.exec(redeem.headers.location ?? '');
      expect(keyed, redeem.headers.location).not.toBeNull();
      const upstreams = new Set<string>();
      for (let round = 0; round < 3; round++) {
        const answer = await rawRequest(balancer.url, `${keyed![1]}/x?round=${round}`);
        expect(answer.status).toBe(200);
        expect(answer.body).toMatch(new RegExp(`^GET /x\\?round=${round} HTTP/1.1`));
        upstreams.add(String(answer.headers['x-boxyard-upstream']));
      }
      expect(upstreams.size).toBe(3);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 180_000);

  /** The process the SIGKILL test killed (the one running a provisioning job then). */
  let killed: DashboardProcess | null = null;
  /** The provisioning job running on the killed process, and its box. */
  let killedJob: { jobId: string; boxId: string } | null = null;
  const jobRow = (jobId: string) => db.job.findUniqueOrThrow({ where: { id: jobId } });
  /** Starts Docker provisioning of a box through the balancer; resolves with the process whose runner claimed it. */
  const provisionRunning = async (boxId: string) => {
    const { jobId } = await api.provision.docker.mutate({ boxId });
    const runnerId = await until(async () => {
      const job = await jobRow(jobId);
      return job.status === 'running' && job.leaseOwner ? job.leaseOwner : null;
    }, 'a process to run the provisioning job', 30_000);
    return { jobId, holder: processes.find((one) => one.runnerId === runnerId)! };
  };

  it('a process killed with SIGKILL: its boxes are sampled again by the others within 15 s, with a gap, not zeros; its job is resumed by another', async () => {
    const jobBoxId = [...boxIds.keys()].at(-2)!;
    const { jobId, holder: victim } = await provisionRunning(jobBoxId);
    killed = victim;
    killedJob = { jobId, boxId: jobBoxId };
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
    // Its job: taken over by a live process once its lease ran out (the lease, plus a runner's 2 s poll), and running.
    const resumed = await until(async () => {
      const job = await jobRow(jobId);
      return job.attempts >= 2 && job.leaseOwner !== victim.runnerId ? job : null;
    }, 'another process to resume the killed one\'s job', JOB_LEASE_MS + 10_000);
    expect(resumed.status).toBe('running');
    expect(processes.map((one) => one.runnerId).filter((id) => id !== victim.runnerId)).toContain(resumed.leaseOwner);
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

  it('a terminal whose process was killed: an attach through any other process says so in plain words', async () => {
    const [boxId] = [...boxIds.keys()];
    // One process was killed by the test before: the other two serve.
    const opened = terminal(boxId!);
    const holder = await upstreamOf(opened);
    expect(holder.runnerId).not.toBe(killed!.runnerId);
    await opened.untilMessage('state', (m) => m.state === 'ready', 30_000);
    opened.type('echo alive-$((1+1))\n');
    await opened.untilOutput('alive-2');
    holder.running.kill('SIGKILL');
    await holder.running.exited;
    await opened.closed;

    const attached = terminal(boxId!, { session: opened.session, mode: 'attach' });
    expect((await upstreamOf(attached)).runnerId).not.toBe(holder.runnerId);
    expect(await attached.closed).toEqual({ code: 4409, reason: SESSION_PROCESS_STOPPED });
    // Said once: the browser then opens a new session, which the process that took it holds.
    const again = terminal(boxId!, { session: opened.session, mode: 'attach' });
    expect((await again.closed).code).toBe(4409);
    const fresh = terminal(boxId!);
    await fresh.untilMessage('state', (m) => m.state === 'ready', 30_000);
    fresh.type('echo fresh-$((2+3))\n');
    await fresh.untilOutput('fresh-5');
    await fresh.drop();
  }, 90_000);

  /**
   * The job succeeded after at least one takeover and finished once (one job.finish). Each step was completed once
   * (one "Done." or "Already done.") and never started again after that: only the step a job was in when its process
   * went starts again, from its check. Docker answers on the box.
   */
  async function expectProvisionedOnce(jobId: string, box: LabBox) {
    const job = await until(async () => {
      const row = await jobRow(jobId);
      return row.status === 'running' || row.status === 'queued' ? null : row;
    }, 'the provisioning job to finish', 240_000);
    const lines = await db.jobLog.findMany({ where: { jobId }, orderBy: { seq: 'asc' } });
    expect(job.status, lines.map((line) => line.text).join('\n')).toBe('succeeded');
    expect(job.attempts).toBeGreaterThanOrEqual(2);
    expect(lines.filter((line) => line.text.startsWith('Resuming at step ')).length).toBe(job.attempts - 1);
    expect(await db.auditEvent.count({ where: { action: 'job.finish', boxId: job.boxId } })).toBe(1);
    const steps = await db.jobStep.findMany({ where: { jobId }, orderBy: { index: 'asc' } });
    expect(steps.every((step) => step.status === 'succeeded')).toBe(true);
    for (const step of steps) {
      const ofStep = lines.filter((line) => line.stepIndex === step.index && line.level === 'step');
      const completed = ofStep.filter((line) => line.text === 'Done.' || line.text === 'Already done.');
      const startedAfter = ofStep.filter((line) => line.text.startsWith('Step ') && line.seq > (completed[0]?.seq ?? Infinity));
      expect({ step: step.name, completed: completed.length, startedAfter: startedAfter.length }).toEqual({ step: step.name, completed: 1, startedAfter: 0 });
    }
    expect((await box.root("su -s /bin/sh dev -c 'docker info --format {{.ServerVersion}}'")).stdout.trim()).toMatch(/^\d+\.\d+/);
  }

  it('a rolling restart, one process at a time, with Docker provisioning running: the job finishes once, no step applied twice; terminals end in plain words, the others keep working, new ones open throughout', async () => {
    const [boxId] = [...boxIds.keys()];
    const dockerBoxId = [...boxIds.keys()].at(-1)!;
    const ready = async (one: TestTerminal) => {
      await one.untilMessage('state', (m) => m.state === 'ready', 30_000);
      return one;
    };
    // The processes the tests before killed start again first, on their ports.
    for (const [index, one] of processes.entries()) {
      const exited = await Promise.race([one.running.exited.then(() => true), new Promise<boolean>((resolve) => setImmediate(() => resolve(false)))]);
      if (!exited) continue;
      // A killed one's registration must run out first (9 s): until then its runner id is refused.
      processes[index] = await until(() => startDashboardProcess(one.runnerId, env, one.port).catch(() => null), `${one.runnerId} to start again`, 40_000);
    }
    await until(async () => (await Promise.all(processes.map((one) => fetch(`http://127.0.0.1:${one.port}/api/health`).then((answer) => answer.status, () => 0)))).every((status) => status === 200), 'the three processes to be ready', 30_000);
    // Provisioning through the balancer; the process whose runner claimed it restarts first, while it runs.
    const { jobId, holder: runner } = await provisionRunning(dockerBoxId);
    const holderFirst = [...processes.keys()].sort((a, b) => Number(processes[b] === runner) - Number(processes[a] === runner));
    for (const index of holderFirst) {
      const old = processes[index]!;
      if (old === runner) expect((await jobRow(jobId)).status).toBe('running');
      // One terminal held by each process (opened on it directly, as nginx may have sent it there).
      const held = new Map<string, TestTerminal>();
      for (const one of processes) {
        const opened = await ready(new TestTerminal(`ws://127.0.0.1:${one.port}`, boxId!, { cookie, origin: balancer.url }));
        expect(await holderOf(opened.session)).toBe(one.runnerId);
        held.set(one.runnerId, opened);
      }

      old.running.kill('SIGTERM');
      expect((await old.running.exited).code).toBe(0);
      expect(await held.get(old.runnerId)!.closed).toEqual({ code: 1012, reason: 'the dashboard is restarting' });
      // Attached again through whichever process is up: it ended, said plainly.
      const reattached = terminal(boxId!, { session: held.get(old.runnerId)!.session, mode: 'attach' });
      expect(await reattached.closed).toEqual({ code: 4409, reason: 'This terminal session has ended.' });
      // The others' terminals keep working, and a new one opens, while this process is down.
      for (const [runnerId, one] of held) {
        if (runnerId === old.runnerId) continue;
        one.type(`echo still-$((${index}+10))\n`);
        await one.untilOutput(`still-${index + 10}`);
      }
      const during = await ready(terminal(boxId!));
      during.type('exit\n');

      processes[index] = await startDashboardProcess(old.runnerId, env, old.port);
      await until(async () => (await fetch(`http://127.0.0.1:${old.port}/api/health`)).status === 200, `${old.runnerId} to be ready again`, 30_000);
      for (const [runnerId, one] of held) if (runnerId !== old.runnerId) one.type('exit\n');
      await Promise.all([...held.values()].map((one) => one.closed));
    }

    // Both provisioning jobs (this one, and the one whose process was killed) finished once, no step applied twice.
    for (const [id, box] of [[jobId, boxes.at(-1)!], [killedJob!.jobId, boxes.at(-2)!]] as const) await expectProvisionedOnce(id, box);
  }, 480_000);
});

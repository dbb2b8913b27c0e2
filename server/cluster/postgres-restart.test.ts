// PostgreSQL restarted under load, on a private server (testing/helpers/postgres-cluster.ts) so the shared one stays up:
// two real dashboard processes, lab boxes sampled, an open terminal, a multi-step job on a box and API requests every
// 100 ms. The database is held down 5 s and started again, then restarted fast. Each process says it is not ready
// while it cannot reach the database and is ready again within seconds; every box is sampled by exactly one process
// again and every process serves every box's new samples (LISTEN/NOTIFY reconnected); nothing committed before is
// lost; the job finishes once; the terminal works throughout; a request during the outage fails with a plain 503
// answer in bounded time, and no process exits.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBoxes, type LabBox } from '../../testing/lab/lab';
import { sql } from '../../testing/helpers/databases';
import { apiClient, signInCookie } from '../../testing/helpers/e2e/api';
import { addSharedBoxes, samplerProcesses, startDashboardProcess, type DashboardProcess } from '../../testing/helpers/load-balancer';
import { startPrivatePostgres, type PrivatePostgres } from '../../testing/helpers/postgres-cluster';
import { freePort } from '../../testing/helpers/process';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { TestTerminal } from '../../testing/helpers/terminals';
import { until } from '../../testing/helpers/wait';
import { DATABASE_UNAVAILABLE_MESSAGE } from '../errors';

const BOXES = 3;
const PASSWORD = 'pg-restart-test-password';
const ADMIN = 'admin@boxyard.local';
/** How long the database stays down in the first fault. */
const OUTAGE_MS = 5_000;
/** A request that takes longer than this during the outage counts as a hang. */
const REQUEST_BUDGET_MS = 10_000;

interface Answer {
  runnerId: string;
  sentAt: number;
  ms: number;
  /** HTTP status, or what went wrong without one. */
  status: number | 'timeout' | 'no connection';
  body: string;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('PostgreSQL restarted under load', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-pgrestart-'));
  let database: PrivatePostgres;
  let boxes: LabBox[] = [];
  let boxIds: string[] = [];
  let processes: DashboardProcess[] = [];
  let env: Record<string, string>;
  let cookie: string;

  const urlOf = (one: DashboardProcess) => `http://127.0.0.1:${one.port}`;
  const apiOn = (one: DashboardProcess) => apiClient(urlOf(one), cookie, env.BOXYARD_URL);
  const streamsPerBox = () => Promise.all(boxes.map(async (box) => (await samplerProcesses(box)).length));
  const healthOf = (one: DashboardProcess) =>
    fetch(`${urlOf(one)}/api/health`, { signal: AbortSignal.timeout(REQUEST_BUDGET_MS) }).then(
      (answer) => answer.status,
      () => 0,
    );
  const exitedEarly = () => Promise.all(processes.map((one) => Promise.race([one.running.exited.then(() => one.runnerId), pause(0).then(() => null)])));

  beforeAll(async () => {
    const [privateServer, labBoxes, publicPort] = await Promise.all([startPrivatePostgres('restart'), startLabBoxes(BOXES, { namePrefix: 'pgrestart' }), freePort()]);
    database = privateServer;
    boxes = labBoxes;
    env = {
      DATABASE_URL: database.url,
      BOXYARD_DATA_DIR: dataDir,
      BOXYARD_SECRET_KEY: randomBytes(32).toString('base64'),
      BOXYARD_ADMIN_PASSWORD: PASSWORD,
      BOXYARD_URL: `http://127.0.0.1:${publicPort}`,
      LOG_LEVEL: 'warn',
    };
    boxIds = await addSharedBoxes(env, boxes, 'pgrestart');
    processes = await Promise.all(['pgrestart-a', 'pgrestart-b'].map((id) => startDashboardProcess(id, env)));
    cookie = await signInCookie(urlOf(processes[0]!), { email: ADMIN, password: PASSWORD }, env.BOXYARD_URL);
  }, LAB_START_TIMEOUT_MS + 120_000);

  afterAll(async () => {
    for (const one of processes) one.running.kill('SIGKILL');
    await Promise.all(processes.map((one) => one.running.exited));
    await database?.remove();
    await Promise.all(boxes.map((box) => box.remove()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Every box's latest sample, as each process serves it, is newer than `after`. */
  const everyProcessServesSamplesAfter = async (after: number) => {
    for (const one of processes) {
      const api = apiOn(one);
      for (const boxId of boxIds) {
        const latest = await api.metrics.status.query({ boxId }).then((status) => status.latest, () => null);
        if (!latest || latest.at <= after || !(latest.memTotalBytes! > 0)) return false;
      }
    }
    return true;
  };

  /** Until every process answers /api/health with 200; how long that took from `since`. */
  const readyAgain = async (since: number) => {
    const readyAfter: Record<string, number> = {};
    await Promise.all(
      processes.map(async (one) => {
        await until(async () => (await healthOf(one)) === 200, `${one.runnerId} to be ready again`, { timeoutMs: 30_000 });
        readyAfter[one.runnerId] = Date.now() - since;
      }),
    );
    return readyAfter;
  };

  it('held down 5 s, then restarted fast: readiness tells the truth, sampling and notifications come back, nothing is lost', async () => {
    // Before: one stream per box, every process serving every box.
    await until(async () => (await streamsPerBox()).every((count) => count === 1), 'one sampler stream on each box', {
      timeoutMs: 60_000,
      describe: async () => `streams per box: ${(await streamsPerBox()).join(', ')}`,
    });
    await until(() => everyProcessServesSamplesAfter(0), 'every process to serve every box', 30_000);
    const committed = async () => ({
      boxes: (await sql(database.url, 'SELECT id FROM box ORDER BY id')).map((row) => row.id),
      audit: (await sql(database.url, 'SELECT id FROM audit_event ORDER BY id')).map((row) => row.id),
      history: (await sql(database.url, 'SELECT "boxId", at FROM metric_point ORDER BY "boxId", at')).map((row) => `${String(row.boxId)} ${(row.at as Date).toISOString()}`),
    });

    // A terminal held by process a, which needs no database while it runs.
    const shell = new TestTerminal(`ws://127.0.0.1:${processes[0]!.port}`, boxIds[0]!, { cookie, origin: env.BOXYARD_URL });
    await shell.untilMessage('state', (m) => m.state === 'ready', 30_000);
    shell.type('echo before-$((1+1))\n');
    await shell.untilOutput('before-2');

    // Requests every 100 ms to each process, for the whole test.
    const answers: Answer[] = [];
    let loading = true;
    const load = processes.map(async (one) => {
      while (loading) {
        const sentAt = Date.now();
        const answer: Answer = { runnerId: one.runnerId, sentAt, ms: 0, status: 'no connection', body: '' };
        try {
          const response = await fetch(`${urlOf(one)}/api/trpc/boxes.list`, { headers: { cookie, origin: env.BOXYARD_URL! }, signal: AbortSignal.timeout(REQUEST_BUDGET_MS) });
          answer.status = response.status;
          answer.body = await response.text();
        } catch (error) {
          answer.status = (error as Error).name === 'TimeoutError' ? 'timeout' : 'no connection';
        }
        answer.ms = Date.now() - sentAt;
        answers.push(answer);
        await pause(100);
      }
    });

    // A multi-step job on a box (an empty mount policy: it looks at the box, mounts nothing, records that), queued
    // just before the database goes away.
    const { jobId } = await apiOn(processes[1]!).mounts.applyPolicy.mutate({ boxId: boxIds[1]! });
    const before = await committed();

    // 1. Held down for 5 s.
    const downAt = Date.now();
    await database.halt();
    await until(async () => (await Promise.all(processes.map(healthOf))).every((status) => status === 503), 'every process to say it is not ready', 10_000);
    const unreadyAfterMs = Date.now() - downAt;
    shell.type('echo during-$((2+3))\n');
    await shell.untilOutput('during-5');
    await pause(OUTAGE_MS - (Date.now() - downAt));
    const upAt = Date.now();
    await database.start();
    const afterHalt = await readyAgain(upAt);
    await until(async () => (await streamsPerBox()).every((count) => count === 1), 'one sampler stream on each box after the outage', {
      timeoutMs: 30_000,
      describe: async () => `streams per box: ${(await streamsPerBox()).join(', ')}`,
    });
    await until(() => everyProcessServesSamplesAfter(upAt), 'every process to serve every box\'s new samples after the outage', 30_000);

    // 2. A fast restart (every connection cut at once).
    const restartAt = Date.now();
    await database.restart();
    const afterRestart = await readyAgain(restartAt);
    await until(async () => (await streamsPerBox()).every((count) => count === 1), 'one sampler stream on each box after the restart', {
      timeoutMs: 30_000,
      describe: async () => `streams per box: ${(await streamsPerBox()).join(', ')}`,
    });
    await until(() => everyProcessServesSamplesAfter(restartAt + 1_000), 'every process to serve every box\'s new samples after the restart', 30_000);
    console.log(`unready after ${unreadyAfterMs} ms; ready again after the 5 s outage: ${JSON.stringify(afterHalt)} ms; after the fast restart: ${JSON.stringify(afterRestart)} ms`);

    // The job finished, once, each step run to success.
    await until(async () => ['succeeded', 'failed', 'cancelled'].includes(String((await sql(database.url, 'SELECT status FROM job WHERE id = $1', [jobId]))[0]?.status)), 'the job to finish', 60_000);
    const [job] = await sql(database.url, 'SELECT status, error FROM job WHERE id = $1', [jobId]);
    const steps = await sql(database.url, 'SELECT index, name, status, changed, attempts FROM job_step WHERE "jobId" = $1 ORDER BY index', [jobId]);
    const logs = await sql(database.url, 'SELECT seq, level, "stepIndex", text FROM job_log WHERE "jobId" = $1 ORDER BY seq', [jobId]);
    expect(job).toMatchObject({ status: 'succeeded' });
    expect(steps.length).toBeGreaterThan(1);
    for (const step of steps) expect(step.status).toBe('succeeded');
    // Each step completed once (a step interrupted by the outage starts again from its check, and is done once).
    const completions = logs.filter((row) => row.level === 'step' && /^(Done|Already done)\.$/.test(String(row.text))).map((row) => row.stepIndex);
    expect(completions).toEqual(steps.map((step) => step.index));
    expect(logs.filter((row) => row.level === 'info' && /^Succeeded in /.test(String(row.text)))).toHaveLength(1);

    // The terminal kept working throughout, on the same shell.
    shell.type('echo after-$((3+4))\n');
    await shell.untilOutput('after-7');
    expect(shell.text).toContain('before-2');

    loading = false;
    await Promise.all(load);
    // Nothing committed before is gone.
    const after = await committed();
    expect(after.boxes).toEqual(before.boxes);
    expect(after.audit).toEqual(expect.arrayContaining(before.audit as string[]));
    expect(after.history).toEqual(expect.arrayContaining(before.history));
    // The lease holder's history goes on across both faults: each box gets the minute of the fast restart (the
    // rollup runs every 60 s, from the samples held in memory, the owner's or those it published).
    const restartMinute = new Date(Math.floor(restartAt / 60_000) * 60_000);
    await until(
      async () => Number((await sql(database.url, 'SELECT count(DISTINCT "boxId")::int AS n FROM metric_point WHERE resolution = 60 AND at = $1', [restartMinute]))[0]!.n) === BOXES,
      'the minute of the fast restart in every box\'s history',
      {
        timeoutMs: 150_000,
        describe: async () =>
          `history rows: ${JSON.stringify(await sql(database.url, 'SELECT "boxId", count(*)::int AS n, min(at) AS first FROM metric_point GROUP BY "boxId"'))}; ` +
          `leases: ${JSON.stringify(await sql(database.url, 'SELECT * FROM lease'))}; ` +
          `logs: ${processes.map((one) => `${one.runnerId}: ${one.running.stdout().slice(-3000)}`).join('\n')}`,
      },
    );

    // Every request was answered (no hang, no refused connection: no process went away): 200, or while the database
    // was away a 503 that says so in plain words.
    expect(await exitedEarly()).toEqual([null, null]);
    const failed = answers.filter((answer) => answer.status !== 200);
    const summary = `${answers.length} requests, ${failed.length} failed: ${JSON.stringify([...new Set(failed.map((answer) => `${answer.status} ${answer.body.slice(0, 300)}`))])}; slowest ${Math.max(...answers.map((answer) => answer.ms))} ms`;
    console.log(summary);
    expect(answers.filter((answer) => typeof answer.status !== 'number'), summary).toEqual([]);
    for (const answer of failed) {
      expect(answer.status, summary).toBe(503);
      expect((JSON.parse(answer.body) as { error: { json: { message: string } } }).error.json.message, summary).toBe(DATABASE_UNAVAILABLE_MESSAGE);
    }
    expect(failed.length, summary).toBeGreaterThan(0);
    expect(answers.filter((answer) => answer.sentAt > restartAt + 15_000 && answer.status !== 200), summary).toEqual([]);
    for (const ready of [...Object.values(afterHalt), ...Object.values(afterRestart)]) expect(ready).toBeLessThan(10_000);
    shell.type('exit\n');
    await shell.closed;
  }, 420_000);
});

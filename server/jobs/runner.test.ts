import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dbProvider } from '../db/client';
import { z } from 'zod';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import type { SessionUser } from '../boxes/access';
import { createBox } from '../boxes/boxes';
import { loadEnv } from '../env';
import { AppError } from '../errors';
import { getJob } from './jobs';
import { createPrometheusRegistry, Timings } from '../metrics/prometheus';
import { startServices, stopServices, type Services } from '../services';
import { sh } from '../ssh/quote';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { until } from '../../testing/helpers/wait';
import type { JobLogLine } from './journal';
import { DbJobQueue } from './queue';
import { StepFailed, type Recipe, type Step, type StepContext } from './recipe';
import { JobRunner, type JobRunnerOptions } from './runner';

/**
 * A test recipe that leaves marker files on the box: step "touch X" is done when /tmp/boxyard-jobs/<job>/X exists.
 * `slow` makes one step sleep in its apply (a command to interrupt); `failAt` makes one step's apply fail for good.
 */
const fileParams = z.object({ slow: z.string().default(''), seconds: z.number().default(0), failAt: z.string().default('') });
type FileParams = z.output<typeof fileParams>;
type FileCtx = StepContext<FileParams, object>;

const markerDir = (ctx: FileCtx) => `/tmp/boxyard-jobs/${ctx.jobId}`;
const marker = (ctx: FileCtx, name: string) => `${markerDir(ctx)}/${name}`;

function touchStep(name: string): Step<FileParams, object> {
  return {
    name: `touch ${name}`,
    check: async (ctx) => (await ctx.exec(sh`test -e ${marker(ctx, name)}`)).code === 0,
    async apply(ctx) {
      if (ctx.params.failAt === name) throw new StepFailed('the file system said no');
      const pause = ctx.params.slow === name ? ctx.params.seconds : 0;
      const result = await ctx.exec(sh`mkdir -p ${markerDir(ctx)} && echo ${`touching ${name}`} && sleep ${pause} && touch ${marker(ctx, name)}`);
      if (result.code !== 0) throw new StepFailed(`touch failed: ${result.stderr}`);
    },
    async verify(ctx) {
      if ((await ctx.exec(sh`test -e ${marker(ctx, name)}`)).code !== 0) throw new StepFailed(`${name} is missing`);
    },
  };
}

const filesRecipe: Recipe<FileParams, object> = {
  kind: 'files',
  needs: { box: true, host: false },
  title: 'File test',
  params: fileParams,
  steps: [touchStep('a'), touchStep('b'), touchStep('c')],
};

describe('JobRunner on a lab box', () => {
  let services: Services;
  let box: LabBox;
  let admin: SessionUser;
  let boxRef: { id: string; name: string };
  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-jobs-'));
  const runners: JobRunner[] = [];

  beforeAll(async () => {
    box = await startLabBox({ namePrefix: 'jobs' });
    ({ services } = await startServices(loadEnv({ BOXYARD_DATA_DIR: dataDir, BOXYARD_ADMIN_PASSWORD: 'jobs-test-password' }), { pollStatus: false, runJobs: false }));
    await box.authorize(services.dashboardPublicKey);
    const user = await services.db.user.findFirstOrThrow({ where: { role: 'admin' } });
    admin = { id: user.id, email: user.email, name: user.name, role: 'admin' };
    const created = await createBox(services.db, services.secrets, admin, {
      name: 'job-box', host: box.host, port: box.port, sshUser: 'dev', tags: [], notes: '', memberIds: [], auth: { method: 'dashboard-key' },
    });
    boxRef = { id: created.id, name: created.name };
  }, LAB_START_TIMEOUT_MS);

  afterEach(async () => {
    await Promise.all(runners.splice(0).map((runner) => runner.stop()));
  });

  afterAll(async () => {
    await stopServices(services);
    await box.remove();
    rmSync(dataDir, { recursive: true, force: true });
  });

  function newRunner(runnerId: string, options: Partial<JobRunnerOptions> & { leaseMs?: number } = {}): JobRunner {
    const { leaseMs = 60_000, ...overrides } = options;
    const runner = new JobRunner({
      db: services.db,
      remote: services.remote,
      hostRemote: services.hostRemote,
      queue: new DbJobQueue(services.db, { runnerId, leaseMs, provider: dbProvider(services.env.databaseUrl) }),
      recipes: [filesRecipe],
      concurrency: 2,
      stepAttempts: 8,
      retryDelayMs: 300,
      heartbeatMs: Math.round(leaseMs / 3),
      pollMs: 100,
      commandTimeoutMs: 60_000,
      ...overrides,
    });
    runners.push(runner);
    return runner;
  }

  const enqueue = (runner: JobRunner, params: Partial<FileParams> = {}, target = boxRef) =>
    runner.enqueue(filesRecipe, { box: target, actor: admin, params });

  /** Resolves at the first log line of the job matching the predicate (subscribe before the job can reach it). */
  function lineOf(runner: JobRunner, jobId: () => string | undefined, predicate: (line: JobLogLine) => boolean): Promise<JobLogLine> {
    return new Promise((resolve) => {
      const onLog = (lines: JobLogLine[]) => {
        const line = lines.find((candidate) => candidate.jobId === jobId() && predicate(candidate));
        if (!line) return;
        runner.events.off('log', onLog);
        resolve(line);
      };
      runner.events.on('log', onLog);
    });
  }

  const job = (id: string) => services.db.job.findUniqueOrThrow({ where: { id } });
  const steps = (id: string) => services.db.jobStep.findMany({ where: { jobId: id }, orderBy: { index: 'asc' } });
  const logText = async (id: string) => (await services.db.jobLog.findMany({ where: { jobId: id }, orderBy: { seq: 'asc' } })).map((line) => line.text);
  const count = (lines: string[], pattern: RegExp) => lines.filter((line) => pattern.test(line)).length;

  async function finished(id: string, timeout = 60_000) {
    await expect.poll(async () => (await job(id)).status, { timeout, interval: 100 }).toMatch(/^(succeeded|failed|cancelled)$/);
    return job(id);
  }

  const markersOnBox = async (id: string) => (await box.root(`ls /tmp/boxyard-jobs/${id} 2>/dev/null`)).stdout.split('\n').filter(Boolean);

  it('runs the steps in order, logging and auditing every command', async () => {
    const runner = newRunner('plain');
    await runner.start();
    const id = await enqueue(runner);
    expect((await finished(id)).status).toBe('succeeded');
    expect((await steps(id)).map((step) => [step.status, step.changed, step.attempts])).toEqual([
      ['succeeded', true, 1],
      ['succeeded', true, 1],
      ['succeeded', true, 1],
    ]);
    const log = await logText(id);
    expect(log[0]).toBe('File test on job-box, queued by admin@boxyard.local.');
    expect(log).toContain('Step 2 of 3: touch b');
    expect(log.at(-1)).toMatch(/^Succeeded in [\d.]+ s\.$/);
    expect(log).toContainEqual(expect.stringMatching(/^\$ mkdir -p '\/tmp\/boxyard-jobs\/.+' && sleep '0' && touch/));
    expect(await markersOnBox(id)).toEqual(['a', 'b', 'c']);

    const audit = await services.db.auditEvent.findMany({ where: { boxId: boxRef.id, action: { in: ['job.enqueue', 'job.finish', 'ssh.exec.job.files'] } } });
    expect(new Set(audit.map((event) => event.action))).toEqual(new Set(['job.enqueue', 'job.finish', 'ssh.exec.job.files']));
  });

  it('resumes after the runner stopped between two steps: finished steps are not run again', async () => {
    const first = newRunner('stops-between');
    await first.start();
    let id: string | undefined;
    // Stop as soon as step 1 reported done, before step 2 ran anything.
    const stopped = lineOf(first, () => id, (line) => line.stepIndex === 0 && line.text === 'Done.').then(() => first.stop());
    id = await enqueue(first);
    await stopped;

    const interrupted = await job(id);
    expect(interrupted.status).toBe('running');
    expect(interrupted.leaseExpiresAt!.getTime()).toBeLessThanOrEqual(Date.now());
    expect((await steps(id)).map((step) => step.status)).toEqual(['succeeded', 'running', 'pending']);
    expect((await logText(id)).at(-1)).toMatch(/^Interrupted: the dashboard is stopping/);

    const second = newRunner('resumes-between');
    await second.start();
    expect((await finished(id)).status).toBe('succeeded');
    const log = await logText(id);
    expect(log).toContain('Resuming at step 2 of 3 (touch b); the steps before it are done and are not run again.');
    expect(count(log, /^Step 1 of 3: touch a$/)).toBe(1);
    // Step a's check and verify, in the first run only.
    expect(count(log, /^\$ test -e .*\/a'$/)).toBe(2);
    expect(count(log, /^\$ .*touch .*\/b'$/)).toBe(1);
    expect((await steps(id)).map((step) => [step.status, step.attempts])).toEqual([
      ['succeeded', 1],
      ['succeeded', 2],
      ['succeeded', 1],
    ]);
    expect((await job(id)).attempts).toBe(2);
    expect(await markersOnBox(id)).toEqual(['a', 'b', 'c']);
  });

  it('resumes after the runner stopped in the middle of a command: that step starts again from its check', async () => {
    const first = newRunner('stops-mid-step');
    await first.start();
    let id: string | undefined;
    const stopped = lineOf(first, () => id, (line) => line.level === 'command' && line.text.includes("sleep '2'")).then(() => first.stop());
    id = await enqueue(first, { slow: 'b', seconds: 2 });
    await stopped;
    expect((await steps(id)).map((step) => step.status)).toEqual(['succeeded', 'running', 'pending']);

    const second = newRunner('resumes-mid-step');
    await second.start();
    expect((await finished(id)).status).toBe('succeeded');
    const log = await logText(id);
    // Step a's check and verify ran in the first run only; step b started over from its check.
    expect(count(log, /^\$ test -e .*\/a'$/)).toBe(2);
    expect(count(log, /^\$ .*touch .*\/a'$/)).toBe(1);
    expect(count(log, /^\$ .*touch .*\/b'$/)).toBe(2);
    expect(log).toContain('Resuming at step 2 of 3 (touch b); the steps before it are done and are not run again.');
    expect((await steps(id)).map((step) => [step.status, step.attempts])).toEqual([
      ['succeeded', 1],
      ['succeeded', 2],
      ['succeeded', 1],
    ]);
  });

  it('cancels a running job mid-command, and a queued one before it starts', async () => {
    const runner = newRunner('cancels');
    await runner.start();
    let id: string | undefined;
    const sleeping = lineOf(runner, () => id, (line) => line.level === 'command' && line.text.includes("sleep '30'"));
    const announced = lineOf(runner, () => id, (line) => line.level === 'stdout' && line.text === 'touching b');
    id = await enqueue(runner, { slow: 'b', seconds: 30 });
    await sleeping;
    // Output reaches the live log while its command still runs.
    await announced;
    expect((await job(id)).status).toBe('running');
    const asked = Date.now();
    expect(await runner.cancel(id, admin)).toBe('requested');
    const cancelled = await finished(id, 10_000);
    expect(Date.now() - asked).toBeLessThan(3_000);
    expect(cancelled).toMatchObject({ status: 'cancelled', error: 'Cancelled while it was running.' });
    expect((await steps(id)).map((step) => [step.status, step.error])).toEqual([
      ['succeeded', null],
      ['failed', 'Cancelled.'],
      ['skipped', null],
    ]);
    expect((await logText(id)).at(-1)).toBe('Cancelled.');
    expect(await services.db.auditEvent.count({ where: { action: 'job.cancel', detail: { contains: id } } })).toBe(1);
    // The command itself was killed on the box, not just abandoned.
    await expect.poll(async () => (await box.root('pgrep -x sleep')).code, { timeout: 5_000 }).toBe(1);

    const idle = newRunner('never-started');
    const queued = await enqueue(idle);
    expect(await idle.cancel(queued, admin)).toBe('cancelled');
    expect(await job(queued)).toMatchObject({ status: 'cancelled', startedAt: null });
    expect((await steps(queued)).map((step) => step.status)).toEqual(['skipped', 'skipped', 'skipped']);
    expect(await logText(queued)).toEqual(['Cancelled by admin@boxyard.local before it started.']);
  });

  it('a cancel asked through another process reaches the runner at its next heartbeat', async () => {
    const runner = newRunner('remote-cancel', { leaseMs: 1_500 });
    await runner.start();
    let id: string | undefined;
    const sleeping = lineOf(runner, () => id, (line) => line.level === 'command' && line.text.includes("sleep '30'"));
    id = await enqueue(runner, { slow: 'b', seconds: 30 });
    await sleeping;
    const elsewhere = new DbJobQueue(services.db, { runnerId: 'another-dashboard', leaseMs: 60_000, provider: dbProvider(services.env.databaseUrl) });
    expect(await elsewhere.cancel(id)).toBe('requested');
    expect((await finished(id, 5_000)).status).toBe('cancelled');
  });

  it('runs a step again when SSH drops during it (sshd stopped for a moment), then finishes', async () => {
    const runner = newRunner('retries');
    await runner.start();
    let id: string | undefined;
    const sleeping = lineOf(runner, () => id, (line) => line.level === 'command' && line.text.includes("sleep '3'"));
    id = await enqueue(runner, { slow: 'b', seconds: 3 });
    await sleeping;
    await box.stopSshd();
    // Down until the runner has seen the drop, so the step really runs again.
    await until(async () => (await logText(id!)).some((line) => line.startsWith('Connection problem: ')), 'the runner to notice the drop');
    await box.startSshd();

    expect((await finished(id)).status).toBe('succeeded');
    const log = await logText(id);
    expect(count(log, /^Connection problem: .*Running this step again, from its check, in [\d.]+ s \(attempt 2 of 8\)\.$/)).toBe(1);
    expect((await steps(id))[1]!.attempts).toBeGreaterThanOrEqual(2);
    expect(await markersOnBox(id)).toEqual(['a', 'b', 'c']);
  }, 90_000);

  it('times each finished run by kind and outcome for /metrics, once per recorded finish', async () => {
    const registry = createPrometheusRegistry();
    const runner = newRunner('timed', { onFinished: new Timings(registry).jobFinished });
    await runner.start();
    const ok = await enqueue(runner, { slow: 'a', seconds: 1 });
    const failed = await enqueue(runner, { failAt: 'a' });
    expect((await finished(ok)).status).toBe('succeeded');
    expect((await finished(failed)).status).toBe('failed');
    const body = await until(async () => {
      const text = await registry.metrics();
      return /boxyard_job_duration_seconds_count\{kind="files",status="failed"\} 1/.test(text) ? text : null;
    }, 'the failed run to be timed');
    expect(body).toMatch(/boxyard_job_duration_seconds_count\{kind="files",status="succeeded"\} 1\n/);
    // The succeeded run slept 1 s in its first step: its duration is in the 1-5 s bucket, not under 1 s.
    expect(body).toMatch(/boxyard_job_duration_seconds_bucket\{le="1",kind="files",status="succeeded"\} 0\n/);
    expect(body).toMatch(/boxyard_job_duration_seconds_bucket\{le="5",kind="files",status="succeeded"\} 1\n/);
  });

  it('fails at once, in plain words, on a step failure or a permanent SSH error', async () => {
    const runner = newRunner('fails');
    await runner.start();
    const id = await enqueue(runner, { failAt: 'b' });
    const failed = await finished(id);
    expect(failed).toMatchObject({ status: 'failed', error: 'Step 2 of 3 (touch b) failed: the file system said no' });
    expect((await steps(id)).map((step) => [step.status, step.attempts, step.error])).toEqual([
      ['succeeded', 1, null],
      ['failed', 1, 'the file system said no'],
      ['skipped', 0, null],
    ]);
    expect((await logText(id)).at(-1)).toBe('Failed: Step 2 of 3 (touch b) failed: the file system said no');

    const wrong = await createBox(services.db, services.secrets, admin, {
      name: 'wrong-password', host: box.host, port: box.port, sshUser: 'dev', tags: [], notes: '', memberIds: [], auth: { method: 'password', password: 'not-the-password' },
    });
    const denied = await enqueue(runner, {}, { id: wrong.id, name: wrong.name });
    const refused = await finished(denied);
    expect(refused.status).toBe('failed');
    expect(refused.error).toMatch(/^Step 1 of 3 \(touch a\) failed: permission denied for user dev on 127\.0\.0\.1:\d+ \(the box did not accept the password/);
    expect(count(await logText(denied), /Connection problem/)).toBe(0);
  });

  it('a command that runs out of time fails its step without a retry (the pool says it did not finish)', async () => {
    const runner = newRunner('times-out', { commandTimeoutMs: 1_000 });
    await runner.start();
    const id = await enqueue(runner, { slow: 'b', seconds: 5 });
    const failed = await finished(id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/^Step 2 of 3 \(touch b\) failed: the command did not finish within 1 s on 127\.0\.0\.1:\d+ and was stopped$/);
    expect(count(await logText(id), /Connection problem/)).toBe(0);
  });

  it('a runner that cannot renew its lease (its database out of reach) stops before the lease ends; another resumes the job at its step', async () => {
    // The claim went through; after it every call fails, as while PostgreSQL is down.
    class CutOffQueue extends DbJobQueue {
      private cut = false;
      private unreachable = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
      override async claim(running: readonly string[]) {
        if (this.cut) return this.unreachable();
        const claimed = await super.claim(running);
        this.cut = claimed !== null;
        return claimed;
      }
      override heartbeat() {
        return this.unreachable();
      }
    }
    const leaseMs = 1_500;
    const cutOff = newRunner('cut-off', { leaseMs, queue: new CutOffQueue(services.db, { runnerId: 'cut-off', leaseMs, provider: dbProvider(services.env.databaseUrl) }) });
    await cutOff.start();
    let id: string | undefined;
    const sleeping = lineOf(cutOff, () => id, (line) => line.level === 'command' && line.text.includes("sleep '4'"));
    id = await enqueue(cutOff, { slow: 'b', seconds: 4 });
    await sleeping;
    await until(() => cutOff.runningJobIds().length === 0, 'the cut-off runner to give the job up', { timeoutMs: 10_000, everyMs: 5 });
    // It let go when the lease it took ends (give or take this poll's delay), not at some later heartbeat: until then
    // no other runner could claim the job.
    const givenUpAt = Date.now();
    const { leaseExpiresAt, status, attempts } = await job(id);
    expect({ status, attempts }).toEqual({ status: 'running', attempts: 1 });
    expect(givenUpAt).toBeLessThanOrEqual(leaseExpiresAt!.getTime() + 250);

    const healthy = newRunner('healthy');
    await healthy.start();
    expect(await finished(id)).toMatchObject({ status: 'succeeded', attempts: 2, leaseOwner: null });
    const log = await logText(id);
    expect(log).toContain('Resuming at step 2 of 3 (touch b); the steps before it are done and are not run again.');
    expect(count(log, /^\$ .*touch .*\/a'$/)).toBe(1);
    // The cut-off runner recorded nothing of its own ending.
    expect(count(log, /^(Failed|Cancelled|Interrupted)/)).toBe(0);
    expect(await markersOnBox(id)).toEqual(['a', 'b', 'c']);
  }, 90_000);

  it('refuses a second job on an exclusive key (CONFLICT, naming the job that holds it) until the first finished', async () => {
    const runner = newRunner('exclusive');
    const exclusive = { key: `files:${boxRef.id}` };
    const first = await runner.enqueue(filesRecipe, { box: boxRef, actor: admin, params: {}, exclusive });
    const refused = await runner.enqueue(filesRecipe, { box: boxRef, actor: admin, params: {}, exclusive }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({
      code: 'CONFLICT',
      message: `File test cannot be queued: job ${first} (files, queued, by ${admin.email}) is doing this work already; wait for it to finish or cancel it, then try again.`,
    });
    const worded = await runner
      .enqueue(filesRecipe, { box: boxRef, actor: admin, params: {}, exclusive: { ...exclusive, busy: (holder) => `busy with ${holder.id}` } })
      .catch((error: unknown) => error);
    expect(worded).toMatchObject({ code: 'CONFLICT', message: `busy with ${first}` });

    // Not started yet: still queued when the wait is over.
    expect(await runner.waitFor(first, { timeoutMs: 300, pollMs: 50 })).toEqual({ status: 'timed-out', last: 'queued' });
    await runner.start();
    expect(await runner.waitFor(first, { timeoutMs: 60_000 })).toEqual({ status: 'succeeded', error: null });
    const second = await runner.enqueue(filesRecipe, { box: boxRef, actor: admin, params: {}, exclusive });
    expect(await runner.waitFor(second, { timeoutMs: 60_000 })).toEqual({ status: 'succeeded', error: null });
    expect(await runner.waitFor('no-such-job', { timeoutMs: 1_000 })).toEqual({ status: 'missing' });
  });

  it('a job whose stored params no longer fit its recipe fails in plain words, and its view says why', async () => {
    const runner = newRunner('bad-params');
    const id = await enqueue(runner);
    await services.db.job.update({ where: { id }, data: { params: '{"seconds":"soon"}' } });
    await runner.start();
    const problem = "The job's parameters are not valid any more: seconds: Invalid input: expected number, received string";
    expect(await runner.waitFor(id, { timeoutMs: 60_000 })).toEqual({ status: 'failed', error: problem });
    expect(await getJob({ db: services.db, jobs: runner }, admin, id)).toMatchObject({ params: null, paramsProblem: problem, status: 'failed' });

    const good = await enqueue(runner, { failAt: 'b' });
    await runner.waitFor(good, { timeoutMs: 60_000 });
    expect(await getJob({ db: services.db, jobs: runner }, admin, good)).toMatchObject({ params: { slow: '', seconds: 0, failAt: 'b' }, paramsProblem: null });
  });

  it('a dashboard restarted under the same runner id resumes its jobs at once, without waiting for their lease', async () => {
    const crashed = new DbJobQueue(services.db, { runnerId: 'dashboard-7', leaseMs: 600_000, provider: dbProvider(services.env.databaseUrl) });
    const id = await enqueue(newRunner('enqueues-only'));
    // The previous life claimed it and died: the lease has ten minutes to go.
    expect((await crashed.claim([]))?.id).toBe(id);

    const restarted = newRunner('dashboard-7');
    const started = Date.now();
    await restarted.start();
    expect((await finished(id, 10_000)).status).toBe('succeeded');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { providers, testDatabases } from '../../testing/helpers/databases';
import { until } from '../../testing/helpers/wait';
import { clockOffsetEnv } from '../../testing/helpers/clock';
import { REPO_DIR, runProcess } from '../../testing/helpers/process';
import { DbJobQueue, ExclusiveKeyHeld, type ClaimedJob } from './queue';

const admin = { id: 'user-1', email: 'lead@example.com' };
/** One claim by another dashboard, in a process of its own. */
const CLAIM_JOB = path.join(REPO_DIR, 'testing', 'fixtures', 'processes', 'claim-job.ts');

describe.each(providers)('DbJobQueue on %s', (provider) => {
  const freshDatabase = testDatabases(provider, 'jobqueue');
  let url: string;
  const clients: Db[] = [];
  /** A separate client (its own connections), as another dashboard process would have. */
  const connect = () => {
    const db = createDb(url);
    clients.push(db);
    return db;
  };
  let db: Db;

  beforeAll(async () => {
    url = await freshDatabase();
    await applyMigrations(url);
    db = connect();
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.$disconnect()));
  });

  const enqueue = (queue: DbJobQueue, boxName = 'box-a') =>
    queue.enqueue({ kind: 'test', box: { id: `id-${boxName}`, name: boxName }, host: null, createdBy: admin, params: { n: 1 }, stepNames: ['one', 'two'] });

  /** Claims until the queue is empty, so every test starts with no runnable job left by another. */
  const drain = async (queue: DbJobQueue) => {
    for (let job = await queue.claim([]); job; job = await queue.claim([])) await queue.finish(job, { status: 'succeeded' });
  };

  it('records a queued job with its planned steps, and hands out the oldest first', async () => {
    const queue = new DbJobQueue(db, { runnerId: 'runner-a', leaseMs: 60_000, provider });
    await drain(queue);
    const first = await enqueue(queue, 'first');
    const second = await enqueue(queue, 'second');
    const row = await db.job.findUniqueOrThrow({ where: { id: first }, include: { steps: { orderBy: { index: 'asc' } } } });
    expect(row).toMatchObject({ status: 'queued', boxName: 'first', createdByEmail: admin.email, params: '{"n":1}', attempts: 0 });
    expect(row.steps.map((step) => [step.name, step.status])).toEqual([['one', 'pending'], ['two', 'pending']]);

    const claimed = await queue.claim([]);
    expect(claimed).toMatchObject({ id: first, claim: 1, box: { id: 'id-first', name: 'first' }, host: null, createdBy: admin });
    const running = await db.job.findUniqueOrThrow({ where: { id: first } });
    expect(running).toMatchObject({ status: 'running', leaseOwner: 'runner-a', attempts: 1 });
    expect(running.startedAt).toBeInstanceOf(Date);
    expect(running.leaseExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 50_000);
    expect((await queue.claim([]))?.id).toBe(second);
    expect(await queue.claim([])).toBeNull();
  });

  it('never hands one job to two runners, even when they claim at the same moment from separate connections', async () => {
    const setup = new DbJobQueue(db, { runnerId: 'setup', leaseMs: 60_000, provider });
    await drain(setup);
    const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => enqueue(setup, `race-${i}`)));
    const runners = await Promise.all(
      ['runner-x', 'runner-y'].map(async (runnerId) => {
        const client = connect();
        // Connected before the race starts, so that neither runner has a head start.
        await client.job.count();
        return new DbJobQueue(client, { runnerId, leaseMs: 60_000, provider });
      }),
    );
    const claimed: ClaimedJob[] = [];
    // Four claim loops per runner, all racing for the same rows.
    await Promise.all(
      runners.flatMap((queue) =>
        Array.from({ length: 4 }, async () => {
          for (let job = await queue.claim([]); job; job = await queue.claim([])) claimed.push(job);
        }),
      ),
    );
    expect(claimed.map((job) => job.id).sort()).toEqual([...ids].sort());
    const rows = await db.job.findMany({ where: { id: { in: ids } } });
    expect(rows.every((row) => row.attempts === 1 && row.status === 'running')).toBe(true);
    // Both runners got work: the race was real.
    expect(new Set(rows.map((row) => row.leaseOwner))).toEqual(new Set(['runner-x', 'runner-y']));
  });

  it('lets another runner take over a job whose lease expired; the old holder can then neither renew nor finish it', async () => {
    const crashed = new DbJobQueue(db, { runnerId: 'crashed', leaseMs: 300, provider });
    const survivor = new DbJobQueue(connect(), { runnerId: 'survivor', leaseMs: 60_000, provider });
    await drain(survivor);
    const id = await enqueue(crashed);
    const first = (await crashed.claim([]))!;
    expect(first.id).toBe(id);
    expect(await survivor.claim([])).toBeNull();

    await until(async () => (await db.job.findUniqueOrThrow({ where: { id } })).leaseExpiresAt!.getTime() < Date.now(), 'the lease to expire', 5_000);
    // Its holder does not claim it again while it still runs it.
    expect(await crashed.claim([id])).toBeNull();
    const taken = (await survivor.claim([]))!;
    expect(taken).toMatchObject({ id, claim: 2 });
    expect(await crashed.heartbeat(first)).toEqual({ held: false, cancelRequested: false });
    expect(await crashed.finish(first, { status: 'failed', error: 'late' })).toBe(false);
    expect(await survivor.heartbeat(taken)).toEqual({ held: true, cancelRequested: false });
    expect(await survivor.finish(taken, { status: 'succeeded' })).toBe(true);
    expect(await db.job.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: 'succeeded', error: null, leaseOwner: null, attempts: 2 });
  });

  // Dashboards on several machines share only PostgreSQL; SQLite has one dashboard, whose own clock is the only one.
  if (provider === 'postgres') {
    it("leases go by the database's clock: a dashboard whose clock is 30 s ahead never takes a job still held", async () => {
      const holder = new DbJobQueue(db, { runnerId: 'clock-right', leaseMs: 20_000, provider });
      await drain(holder);
      const id = await enqueue(holder);
      const held = (await holder.claim([]))!;
      expect(held.id).toBe(id);
      // Another dashboard, in its own process, on a machine whose clock is 30 s ahead: by that clock the 20 s lease
      // ran out 10 s ago.
      const claimFromAhead = async () => {
        const ran = await runProcess(process.execPath, ['--import', 'tsx', CLAIM_JOB, url, 'clock-ahead', '20000'], { env: { ...process.env, ...clockOffsetEnv('+30s') } });
        expect(ran.stderr).toBe('');
        return JSON.parse(ran.stdout) as { clock: number; claimed: string | null };
      };
      const ahead = await claimFromAhead();
      expect(ahead.clock - Date.now()).toBeGreaterThan(25_000);
      expect(ahead.claimed).toBeNull();
      expect(await holder.heartbeat(held)).toEqual({ held: true, cancelRequested: false });
      expect((await claimFromAhead()).claimed).toBeNull();
      expect(await holder.finish(held, { status: 'succeeded' })).toBe(true);
    });
  }

  it('a restarted runner takes back at once the jobs its previous life held; a stopping one releases them to anyone', async () => {
    const before = new DbJobQueue(db, { runnerId: 'dashboard-1', leaseMs: 60_000, provider });
    await drain(before);
    const id = await enqueue(before);
    await before.claim([]);
    const other = new DbJobQueue(connect(), { runnerId: 'dashboard-2', leaseMs: 60_000, provider });
    expect(await other.claim([])).toBeNull();

    const restarted = new DbJobQueue(connect(), { runnerId: 'dashboard-1', leaseMs: 60_000, provider });
    await restarted.start();
    const resumed = (await restarted.claim([]))!;
    expect(resumed).toMatchObject({ id, claim: 2 });

    await restarted.release(resumed);
    expect(await other.claim([])).toMatchObject({ id, claim: 3 });
  });

  it('cancels a queued job at once and flags a running one for its runner', async () => {
    const queue = new DbJobQueue(db, { runnerId: 'canceller', leaseMs: 60_000, provider });
    await drain(queue);
    const queued = await enqueue(queue, 'queued');
    expect(await queue.cancel(queued)).toBe('cancelled');
    expect(await db.job.findUniqueOrThrow({ where: { id: queued } })).toMatchObject({ status: 'cancelled', error: 'Cancelled before it started.' });
    expect(await queue.claim([])).toBeNull();

    await enqueue(queue, 'running');
    const running = (await queue.claim([]))!;
    expect(await queue.cancel(running.id)).toBe('requested');
    expect(await queue.heartbeat(running)).toEqual({ held: true, cancelRequested: true });
    await queue.finish(running, { status: 'cancelled', error: 'Cancelled while it was running.' });
    expect(await queue.cancel(running.id)).toBe('already-finished');
    expect(await queue.cancel('no-such-job')).toBe('not-found');
  });

  it('admits one active job per exclusive key, even when many enqueue at once', async () => {
    // PostgreSQL: separate clients, as several dashboards have. SQLite: one, as its one dashboard process has (the
    // driver is synchronous: a second connection in the same thread would wait for a lock its own thread holds).
    const queues = await Promise.all(
      Array.from({ length: 4 }, async (_, i) => {
        const client = provider === 'postgres' ? connect() : db;
        await client.job.count();
        return new DbJobQueue(client, { runnerId: `enqueuer-${i}`, leaseMs: 60_000, provider });
      }),
    );
    await drain(queues[0]!);
    const exclusive = (queue: DbJobQueue, key: string, vmId: string | null = null) =>
      queue.enqueue({ kind: 'test', box: { id: 'id-x', name: 'x' }, host: null, vmId, exclusiveKey: key, createdBy: admin, params: {}, stepNames: ['one'] });

    const outcomes = await Promise.allSettled(Array.from({ length: 24 }, (_, i) => exclusive(queues[i % queues.length]!, 'lane:x', 'vm-1')));
    const won = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    expect(won).toHaveLength(1);
    const winner = won[0]!;
    for (const outcome of outcomes) {
      if (outcome.status === 'fulfilled') continue;
      expect(outcome.reason).toBeInstanceOf(ExclusiveKeyHeld);
      expect((outcome.reason as ExclusiveKeyHeld).holder).toEqual({ id: winner, kind: 'test', status: 'queued', createdByEmail: admin.email });
    }
    expect(await db.job.count({ where: { exclusiveKey: 'lane:x' } })).toBe(1);
    expect(await db.job.findUniqueOrThrow({ where: { id: winner } })).toMatchObject({ vmId: 'vm-1', exclusiveKey: 'lane:x' });

    // Still held while it runs; free once it finished. Another key is another lane.
    const running = (await queues[1]!.claim([]))!;
    expect(running.id).toBe(winner);
    await expect(exclusive(queues[2]!, 'lane:x')).rejects.toMatchObject({ holder: { id: winner, status: 'running' } });
    await exclusive(queues[0]!, 'lane:y');
    await queues[1]!.finish(running, { status: 'succeeded' });
    const next = await exclusive(queues[2]!, 'lane:x');
    expect(await queues[3]!.cancel(next)).toBe('cancelled');
    const afterCancel = await exclusive(queues[3]!, 'lane:x');

    // A job whose status was written by hand (not through the queue) no longer blocks its key.
    await db.job.update({ where: { id: afterCancel }, data: { status: 'failed' } });
    const afterManual = await exclusive(queues[0]!, 'lane:x');
    expect(await db.job.findUniqueOrThrow({ where: { id: afterCancel } })).toMatchObject({ exclusiveKey: null });
    expect(await db.job.findUniqueOrThrow({ where: { id: afterManual } })).toMatchObject({ exclusiveKey: 'lane:x', status: 'queued' });
    await drain(queues[0]!);
  });
});

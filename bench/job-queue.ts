// The job queue on PostgreSQL as it is (DbJobQueue: a compare-and-set UPDATE per claim, leases in the job row), to
// decide whether a queue library (pg-boss) would be worth it. On a scratch database, with empty jobs (no SSH): what
// is measured is the queue alone.
//  1. enqueue-to-claim latency: one process enqueues, a runner in another (its own database client) polls every
//     POLL_MS as the JobRunner does for work from elsewhere; and the claim query itself, run at once after enqueue.
//  2. throughput: JOBS jobs queued, 3 runners (3 database clients) claiming and finishing as fast as they can; every
//     job must be finished exactly once.
//  3. a killed runner: it claims a job and stops (no heartbeat, its client closed); another runner polling every
//     POLL_MS claims it once the lease (LEASE_MS) ran out.
// Run: npx tsx bench/job-queue.ts   (needs PostgreSQL: BOXYARD_TEST_PG_URL, as the tests)
import { performance } from 'node:perf_hooks';
import { createDb, type Db } from '../server/db/client';
import { applyMigrations } from '../server/db/migrate';
import { createScratchPgDatabase } from '../server/db/scratch-pg';
import { DbJobQueue, type ClaimedJob, type NewJob } from '../server/jobs/queue';
import { formatSummary, machine, printMachine, round, summarize, verdict, writeResults } from './common';

const NAME = 'job-queue';
const PG_URL = process.env.BOXYARD_TEST_PG_URL ?? 'postgresql://boxyard:boxyard@127.0.0.1:5432/postgres';
const POLL_MS = 2_000;
const LATENCY_JOBS = 10;
const IMMEDIATE_CLAIMS = 200;
const JOBS = 600;
const RUNNERS = 3;
const LEASE_MS = 5_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const m = machine();
  printMachine(m);
  const scratch = await createScratchPgDatabase(PG_URL, 'bench_job_queue');
  const clients: Db[] = [];
  try {
    await applyMigrations(scratch.url);
    const client = () => {
      const db = createDb(scratch.url);
      clients.push(db);
      return db;
    };
    const db = client();
    const user = await db.user.create({ data: { id: 'bench-user', email: 'bench@example.com', name: 'bench', role: 'admin' } });
    // No box and no host: nothing runs these jobs but the bench, which only claims and finishes them.
    const job = (i: number): NewJob => ({ kind: 'bench.empty', box: null, host: null, createdBy: { id: user.id, email: user.email }, params: { i }, stepNames: ['only'] });
    const producer = new DbJobQueue(db, { runnerId: 'producer', leaseMs: LEASE_MS, provider: 'postgres' });

    // 1a. The claim query alone: enqueue, then claim at once from another client.
    const claimer = new DbJobQueue(client(), { runnerId: 'claimer', leaseMs: LEASE_MS, provider: 'postgres' });
    const immediate: number[] = [];
    for (let i = 0; i < IMMEDIATE_CLAIMS; i++) {
      const started = performance.now();
      await producer.enqueue(job(i));
      const claimed = await claimer.claim([]);
      immediate.push(performance.now() - started);
      if (!claimed) throw new Error('an enqueued job was not claimable at once');
      await claimer.finish(claimed, { status: 'succeeded' });
    }
    // 1b. Through a poll every POLL_MS (the JobRunner's pollMs for jobs enqueued by another process).
    const polled: number[] = [];
    const enqueuedAt = new Map<string, number>();
    let polling = true;
    const pollLoop = (async () => {
      while (polling) {
        for (let claimed = await claimer.claim([]); claimed; claimed = await claimer.claim([])) {
          polled.push(performance.now() - enqueuedAt.get(claimed.id)!);
          await claimer.finish(claimed, { status: 'succeeded' });
        }
        await sleep(POLL_MS);
      }
    })();
    for (let i = 0; i < LATENCY_JOBS; i++) {
      await sleep(POLL_MS * 0.37 + Math.random() * POLL_MS);
      const id = await producer.enqueue(job(i));
      enqueuedAt.set(id, performance.now());
    }
    while (polled.length < LATENCY_JOBS) await sleep(100);
    polling = false;
    await pollLoop;

    // 2. Throughput: JOBS queued, RUNNERS runners draining them.
    for (let i = 0; i < JOBS; i++) await producer.enqueue(job(i));
    const runners = Array.from({ length: RUNNERS }, (_, r) => new DbJobQueue(client(), { runnerId: `runner-${r}`, leaseMs: LEASE_MS, provider: 'postgres' }));
    const finishedBy: string[][] = runners.map(() => []);
    const drainStarted = performance.now();
    await Promise.all(
      runners.map(async (runner, r) => {
        for (let claimed = await runner.claim([]); claimed; claimed = await runner.claim([])) {
          if (await runner.finish(claimed, { status: 'succeeded' })) finishedBy[r]!.push(claimed.id);
        }
      }),
    );
    const drainMs = performance.now() - drainStarted;
    const finishedIds = finishedBy.flat();
    const duplicates = finishedIds.length - new Set(finishedIds).size;
    const claimedTwice = await db.job.count({ where: { kind: 'bench.empty', attempts: { gt: 1 } } });
    const left = await db.job.count({ where: { status: { in: ['queued', 'running'] } } });

    // 3. A killed runner: claims, then goes silent; another one takes the job after the lease.
    const victimDb = createDb(scratch.url);
    const victim = new DbJobQueue(victimDb, { runnerId: 'victim', leaseMs: LEASE_MS, provider: 'postgres' });
    await producer.enqueue(job(-1));
    const held: ClaimedJob | null = await victim.claim([]);
    if (!held) throw new Error('the victim runner found no job');
    await victimDb.$disconnect();
    const killedAt = performance.now();
    const rescuer = runners[0]!;
    let resumed: ClaimedJob | null = null;
    while (!(resumed = await rescuer.claim([]))) await sleep(POLL_MS);
    const resumedAfterMs = performance.now() - killedAt;
    const victimLostIt = !(await victim.finish(held, { status: 'succeeded' }).catch(() => false));
    await rescuer.finish(resumed, { status: 'succeeded' });

    const figures = {
      machine: m,
      claimAtOnceMs: summarize(immediate),
      enqueueToClaimThroughPollMs: summarize(polled),
      pollMs: POLL_MS,
      throughput: { jobs: JOBS, runners: RUNNERS, ms: round(drainMs), jobsPerSecond: round((JOBS / drainMs) * 1000, 1), perRunner: finishedBy.map((ids) => ids.length), duplicates, claimedTwice, left },
      killedRunner: { leaseMs: LEASE_MS, resumedAfterMs: round(resumedAfterMs), sameJob: resumed.id === held.id, victimLostIt },
    };
    console.log(`enqueue, then claim at once from another client: ${formatSummary(figures.claimAtOnceMs)}`);
    console.log(`enqueue to claim through a ${POLL_MS} ms poll: ${formatSummary(figures.enqueueToClaimThroughPollMs)}`);
    console.log(`throughput, ${RUNNERS} runners: ${JOBS} empty jobs in ${round(drainMs)} ms = ${figures.throughput.jobsPerSecond} jobs/s, per runner ${figures.throughput.perRunner.join('/')}, finished twice ${duplicates}, claimed more than once ${claimedTwice}, left ${left} ${verdict(duplicates === 0 && claimedTwice === 0 && left === 0)}`);
    console.log(`killed runner: its job resumed by another after ${round(resumedAfterMs)} ms (lease ${LEASE_MS} ms, poll ${POLL_MS} ms) ${verdict(figures.killedRunner.sameJob && resumedAfterMs <= LEASE_MS + POLL_MS + 1_000)}`);
    console.log(`results: ${writeResults(NAME, figures)}`);
  } finally {
    await Promise.all(clients.map((db) => db.$disconnect()));
    await scratch.drop();
  }
}

await main();

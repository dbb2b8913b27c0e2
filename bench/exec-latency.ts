// Exec latency: a trivial command on one lab box through the pooled connection (SshPool.exec) versus a fresh
// OpenSSH client process per command, which is what the pool replaces.
// Run: npx tsx bench/exec-latency.ts [poolN] [opensshN]   (defaults 500 and 100; JSON in bench/.results/exec-latency.json)
import './quiet';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { labKeyPair, startLabBox, type LabBox } from '../testing/lab/lab';
import { defaultSshPoolOptions, SshPool, type SshTarget } from '../server/ssh/pool';
import { sh } from '../server/ssh/quote';
import { formatSummary, machine, maxRssMiB, printMachine, removeLabBoxesOnInterrupt, round, summarize, verdict, writeResults } from './common';

const NAME = 'exec-latency';
const POOL_N = Number(process.argv[2] ?? 500);
const OPENSSH_N = Number(process.argv[3] ?? 100);
const POOL_WARMUP = 50;
const OPENSSH_WARMUP = 5;
const CONCURRENT_N = 200;
const TARGET_RATIO = 10;
const COMMAND = 'true';

function runOpenSsh(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('ssh', args, { timeout: 30_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`ssh failed: ${stderr.trim() || error.message}`));
      else resolve();
    });
  });
}

async function main(): Promise<void> {
  const m = machine();
  console.log(`${NAME}: \`${COMMAND}\` on one lab box, sequential; SshPool.exec (warm) vs a fresh OpenSSH client per command`);
  printMachine(m);
  const tempDirs: string[] = [];
  removeLabBoxesOnInterrupt(tempDirs);

  let box: LabBox | undefined;
  let pool: SshPool | undefined;
  const keyDir = await mkdtemp(join(os.tmpdir(), 'boxyard-bench-key-'));
  tempDirs.push(keyDir);
  try {
    const { privateKey } = await labKeyPair();
    box = await startLabBox();
    console.log(`\nlab: box ${box.name} on 127.0.0.1:${box.port}`);

    // (a) the pool
    pool = new SshPool();
    pool.start();
    const target: SshTarget = { host: box.host, port: box.port, username: box.user, auth: { kind: 'key', privateKey } };
    const command = sh`true`;
    let t = performance.now();
    const first = await pool.exec(box.name, target, command, { timeoutMs: 20_000 });
    const firstExecMs = round(performance.now() - t, 3);
    if (first.code !== 0) throw new Error(`bench: first exec exited ${first.code}: ${first.stderr}`);
    for (let i = 0; i < POOL_WARMUP; i++) await pool.exec(box.name, target, command, { timeoutMs: 20_000 });

    const poolSamples: number[] = [];
    let nonZero = 0;
    t = performance.now();
    for (let i = 0; i < POOL_N; i++) {
      const t0 = performance.now();
      const result = await pool.exec(box.name, target, command, { timeoutMs: 20_000 });
      poolSamples.push(performance.now() - t0);
      if (result.code !== 0) nonZero++;
    }
    const poolTotalMs = round(performance.now() - t, 1);
    const poolStats = pool.stats();
    const poolSummary = summarize(poolSamples);

    // (a') extra: the same command CONCURRENT_N times at once on the one connection (the pool caps open channels
    // per connection and queues the rest; sshd refuses more than MaxSessions=10).
    const concurrentSamples: number[] = [];
    t = performance.now();
    const settled = await Promise.allSettled(
      Array.from({ length: CONCURRENT_N }, async () => {
        const t0 = performance.now();
        await pool!.exec(box!.name, target, command, { timeoutMs: 30_000 });
        concurrentSamples.push(performance.now() - t0);
      }),
    );
    const concurrentTotalMs = round(performance.now() - t, 1);
    const concurrentFailures = settled.filter((r) => r.status === 'rejected');
    const concurrentSummary = summarize(concurrentSamples);
    console.log(`\n(a) SshPool.exec, after connect + ${POOL_WARMUP} warm-up execs`);
    console.log(`    first exec (includes connect + handshake + auth): ${firstExecMs} ms`);
    console.log(`    ${formatSummary(poolSummary)}`);
    console.log(`    ${POOL_N} execs in ${poolTotalMs} ms = ${round((POOL_N / poolTotalMs) * 1000, 0)} exec/s; non-zero exits: ${nonZero}; pool.stats(): ${JSON.stringify(poolStats)}`);
    console.log(`\n(a') SshPool.exec, ${CONCURRENT_N} at once on the one connection (max ${defaultSshPoolOptions.maxChannelsPerConnection} channels open, the rest queued)`);
    console.log(`    per call (incl. queueing): ${formatSummary(concurrentSummary)}`);
    console.log(
      `    ${CONCURRENT_N} execs in ${concurrentTotalMs} ms = ${round((CONCURRENT_N / concurrentTotalMs) * 1000, 0)} exec/s; failures: ${concurrentFailures.length}` +
        (concurrentFailures.length ? ` e.g. ${String((concurrentFailures[0] as PromiseRejectedResult).reason)}` : ''),
    );
    await pool.stop();
    pool = undefined;

    // (b) OpenSSH, one client process per command
    const keyFile = join(keyDir, 'id_ed25519');
    await writeFile(keyFile, privateKey, { mode: 0o600 });
    const args = [
      '-i', keyFile,
      '-o', 'IdentitiesOnly=yes',
      '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'BatchMode=yes',
      '-o', 'LogLevel=ERROR',
      '-p', String(box.port),
      `${box.user}@${box.host}`,
      COMMAND,
    ];
    for (let i = 0; i < OPENSSH_WARMUP; i++) await runOpenSsh(args);
    const sshSamples: number[] = [];
    t = performance.now();
    for (let i = 0; i < OPENSSH_N; i++) {
      const t0 = performance.now();
      await runOpenSsh(args);
      sshSamples.push(performance.now() - t0);
    }
    const sshTotalMs = round(performance.now() - t, 1);
    const sshSummary = summarize(sshSamples);
    console.log(`\n(b) fresh OpenSSH client per command (ssh ${args.slice(0, -2).join(' ')} dev@127.0.0.1 ${COMMAND}), after ${OPENSSH_WARMUP} warm-up runs`);
    console.log(`    ${formatSummary(sshSummary)}`);
    console.log(`    ${OPENSSH_N} runs in ${sshTotalMs} ms = ${round((OPENSSH_N / sshTotalMs) * 1000, 1)} runs/s`);

    const ratio = round(sshSummary.median / poolSummary.median, 1);
    const p99Ratio = round(sshSummary.p99 / poolSummary.p99, 1);
    console.log(`\nratio of medians (OpenSSH / pool): ${ratio}x   (target >= ${TARGET_RATIO}x: ${verdict(ratio >= TARGET_RATIO)}); ratio of p99s: ${p99Ratio}x`);
    console.log(`process peak RSS (maxRSS): ${maxRssMiB()} MiB`);

    const file = writeResults(NAME, {
      benchmark: NAME,
      machine: m,
      command: COMMAND,
      targets: { ratioOfMedians: TARGET_RATIO },
      pool: { n: POOL_N, warmup: POOL_WARMUP, firstExecMs, totalMs: poolTotalMs, nonZeroExits: nonZero, ms: poolSummary, stats: poolStats },
      poolConcurrent: { n: CONCURRENT_N, totalMs: concurrentTotalMs, failures: concurrentFailures.length, ms: concurrentSummary },
      openssh: { n: OPENSSH_N, warmup: OPENSSH_WARMUP, totalMs: sshTotalMs, ms: sshSummary },
      ratioOfMedians: ratio,
      ratioOfP99: p99Ratio,
      maxRssMiB: maxRssMiB(),
      met: { poolAtLeast10xFaster: ratio >= TARGET_RATIO },
    });
    console.log(`\nfigures written to ${file}`);
  } finally {
    await pool?.stop().catch((e: unknown) => console.error('bench: pool.stop failed:', e));
    await box?.remove().catch((e: unknown) => console.error(`bench: could not remove ${box?.name}:`, e));
    await rm(keyDir, { recursive: true, force: true });
  }
}

await main();

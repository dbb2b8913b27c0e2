// bench/tunnel: the real OpenSSH client to one lab box through the dashboard's tunnel (ProxyCommand `boxyard proxy`)
// against direct ssh to the same box. Keystroke round trip: one byte echoed by `cat` in an open session (the proxy's
// start-up is outside the measurement). Bulk: scp of 200 MB up to the box. Targets (issue 12): at most +0.5 ms median
// round trip, throughput at least 70% of direct.
//
//   npx tsx bench/tunnel.ts
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createApiToken } from '../server/access-keys/api-tokens';
import { startBackend } from '../testing/helpers/terminals';
import { startLabBox } from '../testing/lab/lab';
import { formatSummary, machine, printMachine, removeLabBoxesOnInterrupt, round, summarize, verdict, writeResults } from './common';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const TSX = path.join(REPO, 'node_modules', '.bin', 'tsx');
const CLI = path.join(REPO, 'cli', 'boxyard.ts');
const KEYSTROKES = 300;
const BULK_MB = 200;

/** Median echo round trip of single bytes through `ssh host cat`. */
async function keystrokeRoundTrips(sshArgs: string[]): Promise<number[]> {
  const ssh = spawn('ssh', [...sshArgs, 'cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let waiting: (() => void) | null = null;
  ssh.stdout.on('data', () => waiting?.());
  const echo = () => new Promise<void>((resolve) => (waiting = resolve));
  // Warm up: the first echo includes the session's start.
  let next = echo();
  ssh.stdin.write('w');
  await next;
  const samples: number[] = [];
  for (let i = 0; i < KEYSTROKES; i++) {
    next = echo();
    const started = performance.now();
    ssh.stdin.write('k');
    await next;
    samples.push(performance.now() - started);
  }
  ssh.stdin.end();
  await new Promise((resolve) => ssh.once('exit', resolve));
  return samples;
}

function scpSeconds(scpArgs: string[], file: string, host: string): number {
  const started = performance.now();
  execFileSync('scp', [...scpArgs, file, `${host}:/tmp/bulk.bin`], { stdio: 'inherit' });
  return (performance.now() - started) / 1000;
}

const dir = mkdtempSync(path.join(tmpdir(), 'boxyard-bench-tunnel-'));
removeLabBoxesOnInterrupt([dir]);
console.log('bench/tunnel: OpenSSH through the dashboard tunnel vs direct, one lab box');
printMachine(machine());
const [backend, lab] = await Promise.all([startBackend(), startLabBox({ namePrefix: 'bench-tunnel' })]);
try {
  await lab.authorize(backend.services.dashboardPublicKey);
  const url = (await backend.listen()).replace(/^ws:/, 'http:');
  const user = await backend.addUser('bench@example.com');
  await backend.addBox('bench-box', lab, user);
  const { token } = await createApiToken(backend.services.db, user.user, 'bench');
  const key = path.join(dir, 'key');
  writeFileSync(key, lab.privateKey, { mode: 0o600 });
  const common = ['-o', 'StrictHostKeyChecking=no', '-o', `UserKnownHostsFile=${path.join(dir, 'known_hosts')}`, '-o', 'BatchMode=yes', '-i', key, '-o', 'User=dev'];
  const proxied = [...common, '-o', `ProxyCommand ${TSX} ${CLI} proxy --url ${url} --token ${token} %n`];

  const rtTunnel = summarize(await keystrokeRoundTrips([...proxied, 'bench-box']));
  const rtDirect = summarize(await keystrokeRoundTrips([...common, '-p', String(lab.port), '127.0.0.1']));
  console.log(`keystroke round trip, tunnel: ${formatSummary(rtTunnel)}`);
  console.log(`keystroke round trip, direct: ${formatSummary(rtDirect)}`);
  const added = round(rtTunnel.median - rtDirect.median, 3);
  console.log(`  added median: ${added} ms (target <= 0.5 ms: ${verdict(added <= 0.5)})`);

  const file = path.join(dir, 'bulk.bin');
  execFileSync('sh', ['-c', `head -c ${BULK_MB * 1_000_000} /dev/urandom > ${file}`]);
  const directS = scpSeconds([...common, '-P', String(lab.port)], file, '127.0.0.1');
  const tunnelS = scpSeconds(proxied, file, 'bench-box');
  const ratio = round(directS / tunnelS, 3);
  console.log(`scp ${BULK_MB} MB: tunnel ${round(BULK_MB / tunnelS, 1)} MB/s (${round(tunnelS, 2)} s), direct ${round(BULK_MB / directS, 1)} MB/s (${round(directS, 2)} s)`);
  console.log(`  tunnel/direct throughput: ${round(ratio * 100, 1)}% (target >= 70%: ${verdict(ratio >= 0.7)})`);
  console.log(`results: ${writeResults('tunnel', { roundTrip: { tunnel: rtTunnel, direct: rtDirect, addedMedianMs: added }, scp: { mb: BULK_MB, tunnelS, directS, ratio } })}`);
} finally {
  await backend.stop();
  await lab.remove();
  rmSync(dir, { recursive: true, force: true });
}

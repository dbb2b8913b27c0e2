// bench/preview: an app on a lab box through the dashboard's preview proxy (own-origin form) against an `ssh -L`
// forward to the same app, in the same run, both driven by curl (a child process: this process is the dashboard).
// Latency: a small response (the app's echo of the request head, ~300 bytes) on one kept-alive connection. Throughput:
// 10 MiB downloads, alternating between the two. Load: 200 requests at once (curl --parallel), every answer must be 200. Dashboard RSS before,
// during (peak) and after the load. Targets (issue 13): at most +1 ms median, >= 80% of ssh -L's throughput for
// 10 MB bodies, 200 concurrent requests without an error.
//
//   npx tsx bench/preview.ts
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PREVIEW_COOKIE, PREVIEW_OPEN_PATH } from '../lib/preview';
import { rawRequest, startPreviewApp } from '../testing/helpers/previews';
import { startBackend } from '../testing/helpers/terminals';
import { until } from '../testing/helpers/wait';
import { startLabBox } from '../testing/lab/lab';
import { formatSummary, machine, printMachine, removeLabBoxesOnInterrupt, round, RssSampler, summarize, verdict, writeResults } from './common';

const APP_PORT = 8123;
const DOMAIN = 'preview.localhost';
const SMALL_REQUESTS = 500;
const BIG_DOWNLOADS = 10;
const BIG_BYTES = 160 * 65536;
const CONCURRENT = 200;

interface Target {
  url: string;
  headers: string[];
}

/** Runs curl with a config file of `requests`, each written out as `-w`; resolves with its stdout lines. */
function curl(dir: string, name: string, target: Target, paths: string[], write: string, parallel = false): Promise<string[]> {
  const config = path.join(dir, `${name}.curl`);
  writeFileSync(config, paths.map((p) => `url = "${target.url}${p}"\noutput = "/dev/null"\n`).join(''));
  const args = ['-s', '-K', config, '-w', write, ...target.headers.flatMap((h) => ['-H', h]), ...(parallel ? ['--parallel', '--parallel-max', String(paths.length), '--parallel-immediate'] : [])];
  return new Promise((resolve, reject) => {
    const child = spawn('curl', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out.trim().split('\n')) : reject(new Error(`curl exited with ${code}`))));
  });
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

/** One 10 MiB download's speed in MB/s. */
async function download(dir: string, name: string, target: Target, i: number): Promise<number> {
  const [line] = await curl(dir, `${name}-big`, target, [`/big?${i}`], '%{size_download} %{speed_download} %{http_code}\n');
  const [size, speed] = line!.split(' ').map(Number);
  if (size !== BIG_BYTES) throw new Error(`${name}: a download was ${size} bytes (HTTP ${line!.split(' ')[2]}), not ${BIG_BYTES}`);
  return speed! / 1e6;
}

/** The 10 MiB downloads, one through each path in turn: the shared machine's load drifts, and both see the same drift. */
async function downloads(dir: string, preview: Target, direct: Target): Promise<{ preview: number[]; direct: number[] }> {
  const speeds = { preview: [] as number[], direct: [] as number[] };
  for (let i = 0; i < BIG_DOWNLOADS; i++) {
    speeds.preview.push(await download(dir, 'preview', preview, i));
    speeds.direct.push(await download(dir, 'ssh', direct, i));
  }
  return speeds;
}

async function measure(dir: string, name: string, target: Target, stats: () => unknown) {
  // Warm up: the first request opens the connection (and the channel).
  await curl(dir, `${name}-warm`, target, ['/warm'], '%{http_code}\n');
  const small = (await curl(dir, `${name}-small`, target, Array.from({ length: SMALL_REQUESTS }, (_, i) => `/small?${i}`), '%{time_total}\n')).map((s) => Number(s) * 1000);
  console.log(`  ${name}: pool before the load ${JSON.stringify(stats())}`);
  const started = performance.now();
  const codes = await curl(dir, `${name}-many`, target, Array.from({ length: CONCURRENT }, (_, i) => `/many?${i}`), '%{http_code}\n', true);
  const manyS = (performance.now() - started) / 1000;
  return { small: summarize(small), many: { requests: codes.length, errors: codes.filter((code) => code !== '200').length, seconds: round(manyS, 2) } };
}

const dir = mkdtempSync(path.join(tmpdir(), 'boxyard-bench-preview-'));
removeLabBoxesOnInterrupt([dir]);
console.log('bench/preview: an app on a lab box through the preview proxy vs ssh -L');
printMachine(machine());
const [backend, lab] = await Promise.all([startBackend({ BOXYARD_PREVIEW_DOMAIN: DOMAIN }), startLabBox({ namePrefix: 'bench-preview' })]);
let forward: ReturnType<typeof spawn> | undefined;
try {
  await lab.authorize(backend.services.dashboardPublicKey);
  const base = (await backend.listen()).replace(/^ws:/, 'http:');
  const user = await backend.addUser('bench@example.com');
  await backend.addBox('bench-box', lab, user);
  await startPreviewApp(lab, APP_PORT);

  const open = await rawRequest(base, `${PREVIEW_OPEN_PATH}?box=bench-box&port=${APP_PORT}`, { headers: { cookie: user.cookie } });
  const redeemAt = new URL(open.headers.location!);
  const redeemed = await rawRequest(base, redeemAt.pathname + redeemAt.search, { headers: { host: redeemAt.host } });
  const cookie = redeemed.headers['set-cookie']!.find((line) => line.startsWith(`${PREVIEW_COOKIE}=`))!.split(';')[0]!;
  const preview: Target = { url: base, headers: [`Host: ${APP_PORT}--bench-box.${DOMAIN}`, `Cookie: ${cookie}`] };

  const key = path.join(dir, 'key');
  writeFileSync(key, lab.privateKey, { mode: 0o600 });
  const localPort = await freePort();
  forward = spawn('ssh', ['-N', '-o', 'StrictHostKeyChecking=no', '-o', `UserKnownHostsFile=${path.join(dir, 'known_hosts')}`, '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes', '-i', key, '-p', String(lab.port), '-L', `${localPort}:127.0.0.1:${APP_PORT}`, 'dev@127.0.0.1'], { stdio: 'inherit' });
  const direct: Target = { url: `http://127.0.0.1:${localPort}`, headers: [] };
  await until(async () => (await rawRequest(direct.url, '/up').catch(() => ({ status: 0 }))).status === 200, 'the ssh -L forward', 20_000);

  global.gc?.();
  const rssBeforeMB = process.memoryUsage.rss() / 1e6;
  const sampler = new RssSampler(20).start();
  const viaPreview = await measure(dir, 'preview', preview, () => backend.services.pool.stats());
  const viaSsh = await measure(dir, 'ssh', direct, () => backend.services.pool.stats());
  const speeds = await downloads(dir, preview, direct);
  const bigMBps = { preview: summarize(speeds.preview), ssh: summarize(speeds.direct) };
  const peakMB = (sampler.stop().peakMiB * 2 ** 20) / 1e6;
  global.gc?.();
  const rssAfterMB = process.memoryUsage.rss() / 1e6;

  console.log(`small response, preview: ${formatSummary(viaPreview.small)}`);
  console.log(`small response, ssh -L:  ${formatSummary(viaSsh.small)}`);
  const added = round(viaPreview.small.median - viaSsh.small.median, 3);
  console.log(`  added median: ${added} ms (target <= 1 ms: ${verdict(added <= 1)})`);
  console.log(`10 MiB download, preview: ${formatSummary(bigMBps.preview, 'MB/s')}`);
  console.log(`10 MiB download, ssh -L:  ${formatSummary(bigMBps.ssh, 'MB/s')}`);
  const ratio = round(bigMBps.preview.median / bigMBps.ssh.median, 3);
  console.log(`  preview/ssh -L median throughput: ${round(ratio * 100, 1)}% (target >= 80%: ${verdict(ratio >= 0.8)})`);
  for (const [name, many] of [['preview', viaPreview.many], ['ssh -L', viaSsh.many]] as const) {
    console.log(`${CONCURRENT} requests at once, ${name}: ${many.errors} errors of ${many.requests} in ${many.seconds} s${name === 'preview' ? ` (target 0 errors: ${verdict(many.errors === 0 && many.requests === CONCURRENT)})` : ''}`);
  }
  console.log(`dashboard RSS: ${round(rssBeforeMB, 1)} MB before the runs, peak ${round(peakMB, 1)} MB, ${round(rssAfterMB, 1)} MB after (growth ${round(rssAfterMB - rssBeforeMB, 1)} MB)`);
  console.log(`results: ${writeResults('preview', { preview: viaPreview, ssh: viaSsh, bigMBps, addedMedianMs: added, throughputRatio: ratio, rss: { beforeMB: rssBeforeMB, peakMB, afterMB: rssAfterMB } })}`);
} finally {
  forward?.kill();
  await backend.stop();
  await lab.remove();
  rmSync(dir, { recursive: true, force: true });
}

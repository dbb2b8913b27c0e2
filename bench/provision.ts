// Provisioning: the Docker job through Boxyard vs the same install typed by hand over ssh, on fresh lab boxes;
// then 8 boxes at once vs one. Every box downloads docker.io from Debian's mirror, so the network counts too.
// Run: npx tsx bench/provision.ts [parallelBoxes]   (default 8; figures also go to bench/.results/provision.json)
import './quiet';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { labKeyPair, startLabBox, startLabBoxes, type LabBox } from '../testing/lab/lab';
import type { SessionUser } from '../server/boxes/access';
import { createBox } from '../server/boxes/boxes';
import { loadEnv } from '../server/env';
import { provisionDocker } from '../server/provision/provision';
import { startServices, stopServices, type Services } from '../server/services';
import { machine, printMachine, removeLabBoxesOnInterrupt, round, verdict, writeResults } from './common';

const NAME = 'provision';
const PARALLEL = Number(process.argv[2] ?? 8);
const run = promisify(execFile);

/** What a person would type: the same packages as the job installs, the daemon.json, the group, a check. */
const BY_HAND =
  "sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq && " +
  "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io apparmor ca-certificates >/dev/null && " +
  "(sudo dockerd >/tmp/dockerd.log 2>&1 &) && " +
  'echo \'{"log-driver":"json-file","log-opts":{"max-size":"10m","max-file":"3"}}\' | sudo tee /etc/docker/daemon.json >/dev/null && ' +
  'sudo usermod -aG docker dev && for i in $(seq 60); do sudo docker info >/dev/null 2>&1 && break; sleep 0.5; done && sudo docker info >/dev/null';

async function byHand(box: LabBox, keyFile: string): Promise<number> {
  const started = performance.now();
  await run('ssh', ['-i', keyFile, '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-p', String(box.port), `dev@${box.host}`, BY_HAND], {
    maxBuffer: 64 * 2 ** 20,
  });
  return performance.now() - started;
}

async function throughBoxyard(services: Services, admin: SessionUser, boxes: LabBox[]): Promise<{ wallMs: number; perJobMs: number[]; failed: string[] }> {
  const created = await Promise.all(
    boxes.map(async (box) => {
      await box.authorize(services.dashboardPublicKey);
      return createBox(services.db, services.secrets, admin, {
        name: `prov-${box.port}`,
        host: box.host,
        port: box.port,
        sshUser: 'dev',
        tags: [],
        notes: '',
        memberIds: [],
        auth: { method: 'dashboard-key' },
      });
    }),
  );
  const started = performance.now();
  const jobIds = await Promise.all(created.map((box) => provisionDocker(services, admin, { boxId: box.id }).then((r) => r.jobId)));
  const jobs = await Promise.all(
    jobIds.map(async (id) => {
      for (;;) {
        const job = await services.db.job.findUniqueOrThrow({ where: { id } });
        if (['succeeded', 'failed', 'cancelled'].includes(job.status)) return job;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }),
  );
  return {
    wallMs: performance.now() - started,
    perJobMs: jobs.map((job) => (job.finishedAt && job.startedAt ? job.finishedAt.getTime() - job.startedAt.getTime() : NaN)),
    failed: jobs.filter((job) => job.status !== 'succeeded').map((job) => `${job.boxName}: ${job.error}`),
  };
}

async function main() {
  const m = machine();
  console.log(`${NAME}: Docker provisioning of fresh lab boxes, Boxyard's job vs the same install by hand over ssh`);
  printMachine(m);
  const dataDir = await mkdtemp(join(os.tmpdir(), 'boxyard-bench-'));
  removeLabBoxesOnInterrupt([dataDir]);
  const keyFile = join(dataDir, 'lab_key');
  await writeFile(keyFile, (await labKeyPair()).privateKey, { mode: 0o600 });
  const labBoxes: LabBox[] = [];
  const { services } = await startServices(loadEnv({ BOXYARD_DATA_DIR: dataDir, BOXYARD_ADMIN_PASSWORD: 'bench-password-123', JOB_CONCURRENCY: String(PARALLEL) }), { pollStatus: false });
  try {
    const user = await services.db.user.findFirstOrThrow({ where: { role: 'admin' } });
    const admin: SessionUser = { id: user.id, email: user.email, name: user.name, role: 'admin' };

    const manual = await startLabBox({ namePrefix: 'bench-prov', dockerCapable: true });
    labBoxes.push(manual);
    const manualMs = await byHand(manual, keyFile);
    console.log(`\nby hand over ssh (apt-get update + install docker.io, daemon.json, group, start): ${round(manualMs / 1000, 1)} s`);

    const single = await startLabBox({ namePrefix: 'bench-prov', dockerCapable: true });
    labBoxes.push(single);
    const one = await throughBoxyard(services, admin, [single]);
    const ratio = one.wallMs / manualMs;
    console.log(`through Boxyard, one box (queue to verified): ${round(one.wallMs / 1000, 1)} s   ratio ${round(ratio, 2)}x (target <= 1.2x: ${verdict(ratio <= 1.2)})`);

    const many = await startLabBoxes(PARALLEL, { namePrefix: 'bench-prov', dockerCapable: true });
    labBoxes.push(...many);
    const batch = await throughBoxyard(services, admin, many);
    const batchRatio = batch.wallMs / one.wallMs;
    console.log(
      `through Boxyard, ${PARALLEL} boxes at once: ${round(batch.wallMs / 1000, 1)} s (per job ${batch.perJobMs.map((ms) => round(ms / 1000, 1)).join(', ')} s)   ` +
        `vs one box ${round(batchRatio, 2)}x (target <= 2x: ${verdict(batchRatio <= 2)})`,
    );
    // The same 8 installs by hand at once: what the machine itself allows (2 cores unpacking 8 dpkg runs).
    const manualMany = await startLabBoxes(PARALLEL, { namePrefix: 'bench-prov', dockerCapable: true });
    labBoxes.push(...manualMany);
    const manyStarted = performance.now();
    await Promise.all(manualMany.map((box) => byHand(box, keyFile)));
    const manualManyMs = performance.now() - manyStarted;
    console.log(
      `by hand, ${PARALLEL} boxes at once: ${round(manualManyMs / 1000, 1)} s   (Boxyard's batch / this: ${round(batch.wallMs / manualManyMs, 2)}x)`,
    );
    const failed = [...one.failed, ...batch.failed];
    console.log(`failed jobs: ${failed.length}${failed.length ? `\n  ${failed.join('\n  ')}` : ''}`);
    console.log(`results: ${writeResults(NAME, { machine: m, manualMs, one, batch, manualManyMs, ratio, batchRatio, parallel: PARALLEL })}`);
  } finally {
    await stopServices(services);
    await Promise.all(labBoxes.map((box) => box.remove()));
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();

// VM lifecycle through Boxyard's jobs vs the same virsh commands typed by hand, on the lab libvirt host (a lab box
// driving this machine's libvirtd, testing/lab/libvirt-host.ts) with a real Debian guest under QEMU TCG (testing/lab/vm.ts).
// Operations: clone of a stopped template, start-to-SSH of the clone, suspend (managedsave), resume-to-SSH, stop
// (graceful shutdown). "By hand" is what a person types: `ssh dev@host virsh ...` with OpenSSH, and an ssh login
// loop for "SSH is up". Target (issue 5): Boxyard adds under 10% or under 1 s to each.
// Run: npx tsx bench/vm-lifecycle.ts [rounds]   (default 1; ~3 min per round on 2 cores; figures also in
// bench/.results/vm-lifecycle.json)
import './quiet';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { removeDomain, startLibvirtHost, type LibvirtHost } from '../testing/lab/libvirt-host';
import { startLabVm, type LabVm } from '../testing/lab/vm';
import type { SessionUser } from '../server/boxes/access';
import { deleteBox } from '../server/boxes/boxes';
import { loadEnv } from '../server/env';
import { createHost } from '../server/hosts/hosts';
import { startServices, stopServices, type Services } from '../server/services';
import { newBoxFromTemplate } from '../server/vms/from-template';
import { requestVmAction } from '../server/vms/lifecycle';
import { ensureVmBoxRunning } from '../server/vms/wake';
import { machine, printMachine, removeLabBoxesOnInterrupt, round, verdict, writeResults } from './common';

const NAME = 'vm-lifecycle';
const ROUNDS = Number(process.argv[2] ?? 1);
const run = promisify(execFile);
const ops = ['clone', 'start-to-ssh', 'suspend', 'resume-to-ssh', 'stop'] as const;
type Op = (typeof ops)[number];
type Timings = Record<Op, number>;

const sshOptions = (key: string, port: number) => [
  '-i', key, '-p', String(port), '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
  '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=3',
];

async function byHand(lab: LibvirtHost, labKey: string, template: LabVm, guestKey: string): Promise<Timings> {
  const name = `lab-hand-${Date.now().toString(36)}`;
  const onHost = (command: string) => run('ssh', [...sshOptions(labKey, lab.port), `dev@${lab.host}`, command], { maxBuffer: 16 * 2 ** 20 });
  const timed = async (work: () => Promise<unknown>) => {
    const started = performance.now();
    await work();
    return performance.now() - started;
  };
  const sshUp = async () => {
    for (;;) {
      const ok = await run('ssh', [...sshOptions(guestKey, template.sshPort), 'dev@127.0.0.1', 'true']).then(() => true, () => false);
      if (ok) return;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };
  const shutOff = async () => {
    for (;;) {
      const { stdout } = await onHost(`LC_ALL=C virsh domstate --domain ${name}`);
      if (stdout.trim() === 'shut off') return;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  };
  try {
    return {
      clone: await timed(() => onHost(`virt-clone --original ${template.name} --name ${name} --auto-clone`)),
      'start-to-ssh': await timed(async () => {
        await onHost(`virsh start --domain ${name}`);
        await sshUp();
      }),
      suspend: await timed(() => onHost(`virsh managedsave --domain ${name}`)),
      'resume-to-ssh': await timed(async () => {
        await onHost(`virsh start --domain ${name}`);
        await sshUp();
      }),
      stop: await timed(async () => {
        await onHost(`virsh shutdown --domain ${name}`);
        await shutOff();
      }),
    };
  } finally {
    await removeDomain(name).catch(() => undefined);
  }
}

/**
 * Where Boxyard's time went in [from, to]: the host commands it ran (each audited with its duration) and the box
 * commands (the SSH wait's login). The rest is the dashboard itself (queue, database, polling).
 */
async function breakdown(services: Services, from: Date, to: Date) {
  const rows = await services.db.auditEvent.findMany({ where: { at: { gte: from, lte: to }, action: { startsWith: 'ssh.exec' } }, select: { action: true, detail: true } });
  const host = rows.filter((row) => row.action.startsWith('ssh.exec.host.'));
  const ms = (list: typeof rows) => list.reduce((total, row) => total + (Number((JSON.parse(row.detail) as { durationMs?: number }).durationMs) || 0), 0);
  return { hostCommands: host.length, hostCommandMs: ms(host), boxCommands: rows.length - host.length };
}

const details: Record<string, unknown>[] = [];

async function throughBoxyard(services: Services, admin: SessionUser, hostId: string, template: LabVm): Promise<Timings> {
  const name = `lab-byard-${Date.now().toString(36)}`;
  const finished = async (jobId: string) => {
    for (;;) {
      const job = await services.db.job.findUniqueOrThrow({ where: { id: jobId } });
      if (job.status === 'succeeded') return job;
      if (job.status === 'failed' || job.status === 'cancelled') throw new Error(`job ${jobId} ${job.status}: ${job.error}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const wall = async (op: string, work: () => Promise<unknown>) => {
    const from = new Date();
    const started = performance.now();
    await work();
    const ms = performance.now() - started;
    details.push({ op, ms: round(ms, 0), ...(await breakdown(services, from, new Date())) });
    return ms;
  };
  let boxId: string | null = null;
  let vmId: string | null = null;
  try {
    const queued = performance.now();
    const created = await newBoxFromTemplate(services, admin, {
      hostId,
      templateId: template.uuid,
      name,
      sshUser: 'dev',
      address: { host: '127.0.0.1', port: template.sshPort },
      auth: { method: 'private-key', privateKey: template.privateKey },
      provisionDocker: false,
      sshTimeoutSeconds: 300,
    });
    boxId = created.boxId;
    await finished(created.jobId);
    const total = performance.now() - queued;
    // Split the one job at its steps: clone | set resources (nothing asked) + start + address + wait for SSH.
    const steps = await services.db.jobStep.findMany({ where: { jobId: created.jobId }, orderBy: { index: 'asc' } });
    const cloneEnd = steps[0]!.finishedAt!.getTime();
    const jobRow = await services.db.job.findUniqueOrThrow({ where: { id: created.jobId } });
    const cloneMs = cloneEnd - jobRow.createdAt.getTime();
    vmId = (await services.db.box.findUniqueOrThrow({ where: { id: boxId } })).vmId;
    details.push({ op: 'clone (job)', ms: round(cloneMs, 0), ...(await breakdown(services, jobRow.createdAt, new Date(cloneEnd))) });
    details.push({ op: 'start-to-ssh (job)', ms: round(total - cloneMs, 0), ...(await breakdown(services, new Date(cloneEnd), jobRow.finishedAt!)) });
    const suspend = await wall('suspend', async () => finished(await requestVmAction(services, { boxId: boxId!, action: 'suspend', actor: admin, reason: 'bench' })));
    const resume = await wall('resume-to-ssh', () => ensureVmBoxRunning(services, { boxId: boxId!, actor: admin, pollMs: 50 }));
    const stop = await wall('stop', async () => finished(await requestVmAction(services, { boxId: boxId!, action: 'stop', actor: admin, reason: 'bench', stopTimeoutSeconds: 300 })));
    return { clone: cloneMs, 'start-to-ssh': total - cloneMs, suspend, 'resume-to-ssh': resume, stop };
  } finally {
    if (boxId) await deleteBox(services.db, admin, boxId).catch(() => undefined);
    if (vmId) await removeDomain(vmId).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const m = machine();
  printMachine(m);
  const tempDirs: string[] = [];
  removeLabBoxesOnInterrupt(tempDirs);
  const dataDir = await mkdtemp(join(os.tmpdir(), 'boxyard-bench-vm-'));
  tempDirs.push(dataDir);
  const { services } = await startServices(loadEnv({ BOXYARD_DATA_DIR: dataDir, BOXYARD_ADMIN_PASSWORD: 'bench-vm-lifecycle-pw' }), { pollStatus: false });
  let lab: LibvirtHost | undefined;
  let template: LabVm | undefined;
  try {
    const user = await services.db.user.findFirstOrThrow({ where: { role: 'admin' } });
    const admin: SessionUser = { id: user.id, email: user.email, name: user.name, role: 'admin' };
    [lab, template] = await Promise.all([startLibvirtHost({ namePrefix: 'bench-vm' }), startLabVm({ template: true, namePrefix: 'benchtmpl' })]);
    await lab.authorize(services.dashboardPublicKey);
    const hostId = (await createHost(services.db, services.secrets, { name: 'bench-kvm', kind: 'libvirt', host: lab.host, port: lab.port, sshUser: 'dev', auth: { method: 'dashboard-key' } })).id;
    const labKey = join(dataDir, 'lab_key');
    const guestKey = join(dataDir, 'guest_key');
    await writeFile(labKey, lab.privateKey, { mode: 0o600 });
    await writeFile(guestKey, template.privateKey, { mode: 0o600 });

    const hand: Timings[] = [];
    const boxyard: Timings[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      // Alternate which goes first, so a warmer page cache does not always favour the same side.
      if (i % 2 === 0) {
        hand.push(await byHand(lab, labKey, template, guestKey));
        boxyard.push(await throughBoxyard(services, admin, hostId, template));
      } else {
        boxyard.push(await throughBoxyard(services, admin, hostId, template));
        hand.push(await byHand(lab, labKey, template, guestKey));
      }
      console.log(`round ${i + 1}/${ROUNDS} done`);
    }
    const median = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      const mid = sorted.length >> 1;
      return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    };
    const figures: Record<string, unknown> = { machine: m, rounds: ROUNDS };
    console.log(`\n${'operation'.padEnd(15)}${'by hand'.padStart(12)}${'Boxyard'.padStart(12)}${'added'.padStart(12)}${'added %'.padStart(10)}  target (<10% or <1 s)`);
    for (const op of ops) {
      const h = median(hand.map((t) => t[op]));
      const b = median(boxyard.map((t) => t[op]));
      const added = b - h;
      const percent = (added / h) * 100;
      const met = added < 1000 || percent < 10;
      figures[op] = { byHandMs: round(h, 0), boxyardMs: round(b, 0), addedMs: round(added, 0), addedPercent: round(percent, 1), met };
      console.log(`${op.padEnd(15)}${`${round(h / 1000, 2)} s`.padStart(12)}${`${round(b / 1000, 2)} s`.padStart(12)}${`${round(added / 1000, 2)} s`.padStart(12)}${`${round(percent, 1)}%`.padStart(10)}  ${verdict(met)}`);
    }
    console.log('\nBoxyard, where the time went (host commands: count, summed duration as audited):');
    for (const d of details) console.log(`  ${String(d.op).padEnd(20)} ${String(d.ms).padStart(7)} ms; ${d.hostCommands} host commands ${d.hostCommandMs} ms; ${d.boxCommands} box commands`);
    figures.boxyardDetails = details;
    console.log(`\nfigures written to ${writeResults(NAME, figures)}`);
  } finally {
    await stopServices(services);
    await template?.remove().catch(() => undefined);
    await lab?.remove().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

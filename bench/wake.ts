// bench/wake: a suspended VM box (libvirt managed save, as auto-suspend leaves it) to a working `ssh box true` from the
// laptop, through the bundled CLI as laptops install it (the real OpenSSH ssh with ProxyCommand `boxyard proxy`: the dashboard wakes the VM through
// its lifecycle job, then opens the tunnel), against what a person types by hand: `virsh start` on the hypervisor host
// (which restores the managed save) and an ssh login loop until the guest answers. Target (issue 12): at most 1.2x.
// The dashboard runs in this process; every client is a child process awaited asynchronously.
//
//   npx tsx bench/wake.ts [rounds]   (default 2; a few minutes per round under TCG)
import './quiet';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { createApiToken } from '../server/access-keys/api-tokens';
import { createHost } from '../server/hosts/hosts';
import { importVmAsBox } from '../server/vms/import-vm';
import { requestVmAction } from '../server/vms/lifecycle';
import { CLI_BUNDLE } from '../testing/helpers/process';
import { startBackend } from '../testing/helpers/terminals';
import { startLibvirtHost, virshOk } from '../testing/lab/libvirt-host';
import { startLabVm } from '../testing/lab/vm';
import { machine, printMachine, removeLabBoxesOnInterrupt, round, summarize, verdict, writeResults } from './common';

const ROUNDS = Number(process.argv[2] ?? 2);
const run = promisify(execFile);
if (!existsSync(CLI_BUNDLE)) throw new Error(`no bundled CLI at ${CLI_BUNDLE}: run scripts/install.sh (or node scripts/build-cli.mjs)`);
const dir = mkdtempSync(path.join(tmpdir(), 'boxyard-bench-wake-'));
removeLabBoxesOnInterrupt([dir]);
console.log('bench/wake: suspended VM box to `ssh box true` through the CLI, vs `virsh start` + ssh by hand');
printMachine(machine());

const backend = await startBackend();
const [lab, vm] = await Promise.all([startLibvirtHost({ namePrefix: 'bench-wake' }), startLabVm({ namePrefix: 'benchwake' })]);
try {
  const url = (await backend.listen()).replace(/^ws:/, 'http:');
  const { services } = backend;
  const admin = backend.admin.user;
  await lab.authorize(services.dashboardPublicKey);
  await vm.waitForSsh();
  await vm.authorize(services.dashboardPublicKey);
  const hostId = (await createHost(services.db, services.secrets, { name: 'bench-kvm', kind: 'libvirt', host: lab.host, port: lab.port, sshUser: lab.user, auth: { method: 'dashboard-key' } })).id;
  const { boxId } = await importVmAsBox(services, admin, {
    hostId, vmId: vm.uuid, name: 'wake-vm', sshUser: 'dev', address: { host: '127.0.0.1', port: vm.sshPort }, auth: { method: 'dashboard-key' }, tags: [],
  });
  const { token } = await createApiToken(services.db, admin, 'bench-wake');
  const labKey = path.join(dir, 'lab_key');
  const guestKey = path.join(dir, 'guest_key');
  writeFileSync(labKey, lab.privateKey, { mode: 0o600 });
  writeFileSync(guestKey, vm.privateKey, { mode: 0o600 });
  const quiet = ['-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR'];
  const onHost = (command: string) => run('ssh', [...quiet, '-i', labKey, '-p', String(lab.port), `${lab.user}@${lab.host}`, command]);
  const proxied = [...quiet, '-i', guestKey, '-o', 'User=dev', '-o', `ProxyCommand ${process.execPath} ${CLI_BUNDLE} proxy --url ${url} --token ${token} %n`];

  const suspend = async () => {
    const jobId = await requestVmAction(services, { boxId, action: 'suspend', actor: admin, reason: 'bench' });
    const job = await services.jobs.waitFor(jobId, { timeoutMs: 300_000, pollMs: 200 });
    if (job.status !== 'succeeded') throw new Error(`suspend job ${jobId}: ${job.status}`);
    if ((await virshOk(['domstate', '--domain', vm.name])).trim() !== 'shut off') throw new Error('the VM is not saved after the suspend');
  };
  const timed = async (work: () => Promise<unknown>) => {
    const started = performance.now();
    await work();
    return performance.now() - started;
  };
  const byHand = () =>
    timed(async () => {
      await onHost(`virsh start --domain ${vm.name}`);
      for (;;) {
        const up = await run('ssh', [...quiet, '-i', guestKey, '-o', 'ConnectTimeout=3', '-p', String(vm.sshPort), 'dev@127.0.0.1', 'true']).then(() => true, () => false);
        if (up) return;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    });
  const throughCli = () => timed(() => run('ssh', [...proxied, 'wake-vm', 'true'], { timeout: 600_000 }));

  const hand: number[] = [];
  const cli: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // Alternate which goes first, so a warmer page cache does not always favour the same side.
    for (const side of i % 2 === 0 ? (['hand', 'cli'] as const) : (['cli', 'hand'] as const)) {
      await suspend();
      const ms = side === 'hand' ? await byHand() : await throughCli();
      (side === 'hand' ? hand : cli).push(ms);
      console.log(`round ${i + 1}/${ROUNDS}, ${side === 'hand' ? 'by hand' : 'through the CLI'}: ${round(ms / 1000, 2)} s`);
    }
  }
  const handSummary = summarize(hand);
  const cliSummary = summarize(cli);
  const ratio = round(cliSummary.median / handSummary.median, 3);
  console.log(`suspended to \`ssh box true\`: CLI median ${round(cliSummary.median / 1000, 2)} s, by hand median ${round(handSummary.median / 1000, 2)} s`);
  console.log(`  CLI / by hand: ${ratio}x (target <= 1.2x: ${verdict(ratio <= 1.2)})`);
  console.log(`results: ${writeResults('wake', { rounds: ROUNDS, byHandMs: handSummary, cliMs: cliSummary, ratio })}`);
} finally {
  await backend.stop();
  await vm.remove();
  await lab.remove();
  rmSync(dir, { recursive: true, force: true });
}

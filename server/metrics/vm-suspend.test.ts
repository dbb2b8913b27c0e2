// The end goal, for real: a Debian guest VM (QEMU under TCG in this machine's libvirtd) on a lab hypervisor host,
// imported as a box. The sampler streams from the guest (a non-container box: /proc/stat, cgroup v2, systemd), the
// host CPU of its QEMU process comes from `virsh domstats` on the host, the box goes idle within a shortened window,
// and the policy suspends it through the real VM lifecycle job (managed save); opening a browser-style terminal on it
// (WebSocket -> TerminalManager) resumes it and the shell answers. Then the laptop's side: the real OpenSSH ssh through
// `boxyard proxy` and the dashboard's tunnel wakes the suspended VM, an open ssh session keeps it awake, and once it
// closed the policy suspends it again; rsync goes the same way. Needs docker and libvirtd: fails loudly without them.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../access-keys/api-tokens';
import { CLI_SOURCE, runProcess, TSX } from '../../testing/helpers/process';
import { startLibvirtHost, virshOk, type LibvirtHost } from '../../testing/lab/libvirt-host';
import { startLabVm, type LabVm } from '../../testing/lab/vm';
import { createHost } from '../hosts/hosts';
import { importVmAsBox } from '../vms/import-vm';
import { startBackend, TestTerminal, type Backend } from '../../testing/helpers/terminals';
import type { MetricsService } from './service';
import { testMetrics } from '../../testing/helpers/metrics';
import { until } from '../../testing/helpers/wait';
import { vmLifecycleActions } from '../vms/auto-suspend-actions';

describe('auto-suspend of a real libvirt VM', () => {
  let backend: Backend;
  let url: string;
  let lab: LibvirtHost;
  let vm: LabVm;
  let metrics: MetricsService;
  let boxId: string;
  const laptop = mkdtempSync(path.join(tmpdir(), 'boxyard-wake-laptop-'));

  beforeAll(async () => {
    // Its job runner runs the lifecycle jobs; its TerminalManager wakes the VM when a terminal opens.
    backend = await startBackend();
    url = await backend.listen();
    [lab, vm] = await Promise.all([startLibvirtHost({ namePrefix: 'boxyard-lab-metrics' }), startLabVm({ namePrefix: 'metrics' })]);
    await lab.authorize(backend.services.dashboardPublicKey);
    await vm.waitForSsh();
    await vm.authorize(backend.services.dashboardPublicKey);
    const { services } = backend;
    const admin = backend.admin.user;
    const hostId = (await createHost(services.db, services.secrets, { name: 'lab-kvm', kind: 'libvirt', host: lab.host, port: lab.port, sshUser: lab.user, auth: { method: 'dashboard-key' } })).id;
    const box = await importVmAsBox({ ...services, jobs: services.jobs }, admin, {
      hostId,
      vmId: vm.uuid,
      name: 'lab-vm',
      sshUser: 'dev',
      address: { host: '127.0.0.1', port: vm.sshPort },
      auth: { method: 'dashboard-key' },
      tags: ['laptop'],
    });
    boxId = box.boxId;
    // Policy on the tag: 1 "minute" (1 s here) after the idle window.
    await services.db.suspendPolicy.create({ data: { tag: 'laptop', idleMinutes: 1, action: 'suspend' } });
    metrics = testMetrics(backend, {
      policyMinuteMs: 1_000,
      // A TCG guest is slow and its systemd/dockerd settle for a while after boot: a generous CPU threshold.
      settingsOverride: { slowIntervalS: 2, fastIntervalS: 1, idleWindowS: 6, idleCpuPct: 40, suspendWarningS: 2 },
      ...vmLifecycleActions(services, { pollMs: 250, timeoutMs: 240_000 }),
    });
    await metrics.start({ only: [boxId] });
  }, 400_000);

  afterAll(async () => {
    await metrics?.stop();
    await backend?.stop();
    await vm?.remove();
    await lab?.remove();
    rmSync(laptop, { recursive: true, force: true });
  });

  const boxRow = () => backend.services.db.box.findUniqueOrThrow({ where: { id: boxId } });
  const domstate = async () => (await virshOk(['domstate', '--domain', vm.name])).trim();

  it('samples the guest and its host CPU, suspends it when idle (real job), and resumes it on demand', async () => {
    await until(() => metrics.sampler.latest(boxId)?.cpuPct != null, 'guest samples', 60_000);
    const latest = metrics.sampler.latest(boxId)!;
    expect(latest.memTotalBytes).toBeGreaterThan(800 * 1024 * 1024); // the guest's own 1 GiB, not this machine's RAM
    // Host CPU of the QEMU process, from domstats over the host's SSH connection.
    await until(() => metrics.hostCpu.pct(boxId, 60_000) !== null, 'host CPU of the VM', 60_000);
    expect(metrics.hostCpu.pct(boxId, 60_000)!).toBeGreaterThan(0);

    await until(async () => (await backend.services.db.box.findUniqueOrThrow({ where: { id: boxId } })).suspendWarnedAt, 'the warning', { timeoutMs: 180_000, everyMs: 250 });
    await until(async () => (await backend.services.db.box.findUniqueOrThrow({ where: { id: boxId } })).autoSuspendedAt, 'the suspend', { timeoutMs: 240_000, everyMs: 250 });
    expect((await virshOk(['domstate', '--domain', vm.name])).trim()).toBe('shut off');
    expect((await virshOk(['dominfo', '--domain', vm.name])).match(/Managed save:\s+(\w+)/)?.[1]).toBe('yes');
    const job = await backend.services.db.job.findFirstOrThrow({ where: { boxId, kind: 'vm.suspend' } });
    expect(job).toMatchObject({ status: 'succeeded', createdById: null });
    // The suspended VM: the stream is down (a gap), not idle.
    await until(() => metrics.idleState(boxId).state === 'down', 'the box down after the suspend', 60_000);

    // Opening a terminal is the demand: the dashboard resumes the VM through the same lifecycle, then the shell answers.
    const terminal = new TestTerminal(url, boxId, { cookie: backend.admin.cookie, origin: backend.origin });
    terminal.type('echo back-$((1+1))\r');
    await terminal.untilOutput('back-2', 240_000);
    expect((await virshOk(['domstate', '--domain', vm.name])).trim()).toBe('running');
    const woken = await backend.services.db.box.findUniqueOrThrow({ where: { id: boxId } });
    expect(woken.autoSuspendedAt).toBeNull();
    expect(await backend.services.db.auditEvent.count({ where: { boxId, action: 'box.resume.on-demand', result: 'ok' } })).toBe(1);
    terminal.send({ type: 'close' });
    await terminal.closed;
    await until(() => metrics.idleState(boxId).state !== 'down', 'samples again after the resume', 120_000);
  }, 600_000);

  it("wakes on a laptop's ssh through the tunnel, stays awake while the session is open, and sleeps again once it closed", async () => {
    // The first test left it running and idle: the policy suspends it again.
    await until(async () => (await boxRow()).autoSuspendedAt, 'the second suspend', { timeoutMs: 240_000, everyMs: 250 });
    await until(async () => (await domstate()) === 'shut off', 'the VM saved', { timeoutMs: 120_000, everyMs: 500 });

    const { token } = await createApiToken(backend.services.db, backend.admin.user, 'laptop');
    const key = path.join(laptop, 'lab_ed25519');
    writeFileSync(key, vm.privateKey, { mode: 0o600 });
    const httpUrl = url.replace(/^ws:/, 'http:');
    // An entry like the one `boxyard connect` writes: no address of the VM, only the ProxyCommand.
    const config = path.join(laptop, 'ssh_config');
    writeFileSync(config, [
      'Host lab-vm',
      '  User dev',
      `  IdentityFile ${key}`,
      '  IdentitiesOnly yes',
      '  BatchMode yes',
      '  StrictHostKeyChecking no',
      `  UserKnownHostsFile ${path.join(laptop, 'known_hosts')}`,
      `  ProxyCommand ${TSX} ${CLI_SOURCE} proxy --url ${httpUrl} --token ${token} %n`,
      '',
    ].join('\n'));
    const ssh = ['-F', config];
    const woke = await runProcess('ssh', [...ssh, 'lab-vm', 'true'], { timeoutMs: 300_000 });
    expect(woke.stderr).toMatch(/waking lab-vm \(suspended\)\.\.\. ready in \d+\.\d s/);
    expect(woke.code).toBe(0);
    expect(await domstate()).toBe('running');
    expect((await boxRow()).autoSuspendedAt).toBeNull();
    expect(await backend.services.db.auditEvent.count({ where: { boxId, action: 'box.resume.on-demand', result: 'ok' } })).toBe(2);

    // rsync runs that ssh itself: a small tree up to the guest through the same entry.
    const tree = path.join(laptop, 'tree');
    mkdirSync(path.join(tree, 'src'), { recursive: true });
    writeFileSync(path.join(tree, 'README'), 'through the dashboard\n');
    writeFileSync(path.join(tree, 'src', 'main.go'), 'package main\n');
    const synced = await runProcess('rsync', ['-a', '-e', `ssh -F ${config}`, `${tree}/`, 'lab-vm:/tmp/tree/'], { timeoutMs: 120_000 });
    expect(synced).toMatchObject({ code: 0, stderr: '' });
    expect((await vm.exec('cat /tmp/tree/README /tmp/tree/src/main.go')).stdout).toBe('through the dashboard\npackage main\n');

    // An ssh session held open through the tunnel: busy for the idle tracker, whatever the guest's CPU does.
    const session = spawn('ssh', [...ssh, 'lab-vm', 'cat'], { stdio: ['pipe', 'ignore', 'inherit'] });
    const sessionEnded = new Promise<number | null>((resolve) => session.once('exit', resolve));
    const reason = `tunnel open: ssh by ${backend.admin.user.email}`;
    await until(() => {
      const state = metrics.idleState(boxId);
      return state.state === 'busy' && state.reasons.includes(reason);
    }, 'the idle status naming the open tunnel', 120_000);
    const suspendsBefore = await backend.services.db.job.count({ where: { boxId, kind: 'vm.suspend' } });
    // Twice what the policy needs to suspend an idle box (window 6 s, warning 2 s, policy 1 s): nothing may happen.
    await new Promise((resolve) => setTimeout(resolve, 18_000));
    expect(metrics.idleState(boxId)).toMatchObject({ state: 'busy', reasons: expect.arrayContaining([reason]) });
    expect(await backend.services.db.job.count({ where: { boxId, kind: 'vm.suspend' } })).toBe(suspendsBefore);
    expect((await boxRow()).suspendWarnedAt).toBeNull();
    expect(await domstate()).toBe('running');

    // The session ends: no tunnel, the box goes idle and the policy suspends it again.
    session.stdin.end();
    expect(await sessionEnded).toBe(0);
    await until(() => backend.services.tunnels.tunnelsOn(boxId).length === 0, 'the tunnel closed', 30_000);
    await until(async () => (await boxRow()).autoSuspendedAt, 'the suspend after the session', { timeoutMs: 240_000, everyMs: 250 });
    await until(async () => (await domstate()) === 'shut off', 'the VM saved again', { timeoutMs: 120_000, everyMs: 500 });

    // Suspended by hand (`boxyard suspend`, the box page's job) rather than by the policy: ssh wakes it all the same,
    // at once, not only after the status poller noticed the box went down.
    const woke2 = await runProcess('ssh', [...ssh, 'lab-vm', 'true'], { timeoutMs: 300_000 });
    expect(woke2.code).toBe(0);
    const suspended = await runProcess(TSX, [CLI_SOURCE, 'suspend', '--url', httpUrl, '--token', token, 'lab-vm'], { timeoutMs: 300_000 });
    expect(suspended.stderr).toContain('Step');
    expect(suspended.code).toBe(0);
    expect(await domstate()).toBe('shut off');
    const woke3 = await runProcess('ssh', [...ssh, 'lab-vm', 'true'], { timeoutMs: 300_000 });
    expect(woke3.stderr).toMatch(/waking lab-vm \(\w[\w ]*\)\.\.\. ready in \d+\.\d s/);
    expect(woke3.code).toBe(0);
    expect(await domstate()).toBe('running');

    const audited = await backend.services.db.auditEvent.findMany({ where: { boxId, action: { in: ['tunnel.open', 'tunnel.close'] } }, orderBy: { at: 'asc' } });
    expect(audited.map((event) => `${event.action}:${event.result}`)).toEqual(Array.from({ length: 5 }, () => ['tunnel.open:ok', 'tunnel.close:ok']).flat());
  }, 900_000);
});

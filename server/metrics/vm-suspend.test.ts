// The end goal, for real: a Debian guest VM (QEMU under TCG in this machine's libvirtd) on a lab hypervisor host,
// imported as a box. The sampler streams from the guest (a non-container box: /proc/stat, cgroup v2, systemd), the
// host CPU of its QEMU process comes from `virsh domstats` on the host, the box goes idle within a shortened window,
// and the policy suspends it through the real VM lifecycle job (managed save); opening a browser-style terminal on it
// (WebSocket -> TerminalManager) resumes it and the shell answers. Needs docker and libvirtd: fails loudly without them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  });

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
});

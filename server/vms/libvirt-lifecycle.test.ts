import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineEmptyDomain, removeDomain, startLibvirtHost, virshOk, type LabDomain, type LibvirtHost } from '../../testing/lab/libvirt-host';
import type { SessionUser } from '../boxes/access';
import { loadEnv } from '../env';
import { AppError } from '../errors';
import { createHost } from '../hosts/hosts';
import { startServices, stopServices, type Services } from '../services';
import { importVmAsBox } from './import-vm';
import { hostVmAction } from './lifecycle';
import { boxVmStatus, hostVms } from './views';

/**
 * The lifecycle jobs end to end against this machine's real libvirtd, through a lab hypervisor host (SSH -> virsh ->
 * libvirtd -> QEMU under TCG), with the dashboard's own job runner. Diskless domains boot to nothing, but start,
 * managedsave/restore, suspend/resume (pause) and destroy are all real, and a shutdown request is ignored (no OS),
 * so a stop is forced after its timeout. Needs libvirtd and docker: fails loudly without them.
 */
describe('VM lifecycle on a real libvirt host', () => {
  let services: Services;
  let admin: SessionUser;
  let lab: LibvirtHost;
  let hostId: string;
  const domains: LabDomain[] = [];
  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-vms-libvirt-'));

  beforeAll(async () => {
    ({ services } = await startServices(loadEnv({ BOXYARD_DATA_DIR: dataDir, BOXYARD_ADMIN_PASSWORD: 'vms-libvirt-test-password' }), { pollStatus: false }));
    const user = await services.db.user.findFirstOrThrow({ where: { role: 'admin' } });
    admin = { id: user.id, email: user.email, name: user.name, role: 'admin' };
    lab = await startLibvirtHost({ namePrefix: 'boxyard-lab-vms' });
    await lab.authorize(services.dashboardPublicKey);
    hostId = (await createHost(services.db, services.secrets, { name: 'lab-kvm', kind: 'libvirt', host: lab.host, port: lab.port, sshUser: lab.user, auth: { method: 'dashboard-key' } })).id;
  }, 180_000);

  afterAll(async () => {
    await stopServices(services);
    for (const domain of domains) await removeDomain(domain.uuid).catch(() => undefined);
    await lab?.remove();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function domain(): Promise<LabDomain> {
    const made = await defineEmptyDomain();
    domains.push(made);
    return made;
  }

  const job = (id: string) => services.db.job.findUniqueOrThrow({ where: { id } });
  const logText = async (id: string) => (await services.db.jobLog.findMany({ where: { jobId: id }, orderBy: { seq: 'asc' } })).map((line) => line.text).join('\n');

  async function run(vmId: string, action: Parameters<typeof hostVmAction>[2]['action'], stopTimeoutSeconds?: number) {
    const { jobId } = await hostVmAction(services, admin, { hostId, vmId, action, stopTimeoutSeconds });
    await expect.poll(async () => (await job(jobId)).status, { timeout: 60_000, interval: 100 }).toMatch(/^(succeeded|failed|cancelled)$/);
    const finished = await job(jobId);
    return { ...finished, log: await logText(jobId) };
  }

  const stateOf = async (vmId: string) => (await hostVms(services, admin, hostId)).find((vm) => vm.id === vmId);
  const virshState = async (name: string) => (await virshOk(['domstate', '--domain', name])).trim();

  it('lists a domain with the buttons its state allows, and walks it through every action', async () => {
    const dom = await domain();
    expect(await stateOf(dom.uuid)).toMatchObject({ name: dom.name, state: 'stopped', actions: ['start'], activeJob: null });

    expect(await run(dom.uuid, 'start')).toMatchObject({ status: 'succeeded' });
    expect(await virshState(dom.name)).toBe('running');
    expect(await stateOf(dom.uuid)).toMatchObject({ state: 'running', actions: ['stop', 'suspend', 'restart', 'pause'] });

    // Already running: the job succeeds without touching it.
    const again = await run(dom.uuid, 'start');
    expect(again.status).toBe('succeeded');
    expect(again.log).toContain(`${dom.name} is already running (running): nothing to do.`);

    expect(await run(dom.uuid, 'pause')).toMatchObject({ status: 'succeeded' });
    expect(await virshState(dom.name)).toBe('paused');
    expect(await run(dom.uuid, 'resume')).toMatchObject({ status: 'succeeded' });
    expect(await virshState(dom.name)).toBe('running');

    expect(await run(dom.uuid, 'suspend')).toMatchObject({ status: 'succeeded' });
    expect(await virshState(dom.name)).toBe('shut off');
    expect((await virshOk(['dominfo', '--domain', dom.name])).match(/Managed save:\s+(\w+)/)?.[1]).toBe('yes');
    expect(await stateOf(dom.uuid)).toMatchObject({ state: 'suspended', actions: ['resume'] });
    expect(await run(dom.uuid, 'resume')).toMatchObject({ status: 'succeeded' });
    expect(await virshState(dom.name)).toBe('running');

    // No OS answers the ACPI request: powered off after the timeout, and the log says so.
    const stop = await run(dom.uuid, 'stop', 3);
    expect(stop.status).toBe('succeeded');
    expect(stop.log).toContain(`${dom.name} did not shut down within 3 s: it was powered off (forced).`);
    expect(await virshState(dom.name)).toBe('shut off');

    // Every host command of the jobs is in the audit log.
    const audited = await services.db.auditEvent.count({ where: { action: { startsWith: 'ssh.exec.host.job.vm.' } } });
    expect(audited).toBeGreaterThan(10);
  }, 180_000);

  it('refuses at enqueue what the state does not allow, and a second action while one runs', async () => {
    const dom = await domain();
    await expect(hostVmAction(services, admin, { hostId, vmId: dom.uuid, action: 'suspend' })).rejects.toThrow(`${dom.name} is stopped; nothing to suspend.`);
    expect(await run(dom.uuid, 'start')).toMatchObject({ status: 'succeeded' });
    const outcomes = await Promise.allSettled([
      hostVmAction(services, admin, { hostId, vmId: dom.uuid, action: 'stop', stopTimeoutSeconds: 2 }),
      hostVmAction(services, admin, { hostId, vmId: dom.uuid, action: 'suspend' }),
    ]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const [lost] = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    expect(lost!.reason).toBeInstanceOf(AppError);
    expect((lost!.reason as AppError).message).toMatch(new RegExp(`^admin@boxyard\\.local is already (stopping|suspending) ${dom.name} \\(job `));
  }, 120_000);

  it('a VM deleted on the host behind Boxyard’s back shows on its box, and nothing crashes', async () => {
    const dom = await domain();
    const { boxId } = await importVmAsBox(services, admin, {
      hostId,
      vmId: dom.uuid,
      name: 'gone-vm',
      sshUser: 'dev',
      address: { host: '127.0.0.1', port: 1 },
      auth: { method: 'dashboard-key' },
      tags: [],
    });
    expect(await boxVmStatus(services, admin, boxId)).toMatchObject({ vm: { name: dom.name, state: 'stopped' }, problem: null, actions: ['start'] });
    await removeDomain(dom.uuid);
    expect(await boxVmStatus(services, admin, boxId)).toMatchObject({
      vm: null,
      problem: `The VM gone-vm no longer exists on host lab-kvm.`,
      actions: [],
    });
    await expect(hostVmAction(services, admin, { hostId, vmId: dom.uuid, action: 'start' })).rejects.toThrow(`no longer exists on host lab-kvm.`);
  }, 120_000);
});

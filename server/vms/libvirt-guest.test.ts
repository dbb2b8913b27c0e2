import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDomain, startLibvirtHost, virshOk, type LibvirtHost } from '../../testing/lab/libvirt-host';
import { LAB_VM_BOOT_TIMEOUT_MS, startLabVm, type LabVm } from '../../testing/lab/vm';
import type { SessionUser } from '../boxes/access';
import { deleteBox } from '../boxes/boxes';
import { loadEnv } from '../env';
import { createHost } from '../hosts/hosts';
import { startServices, stopServices, type Services } from '../services';
import { sh } from '../ssh/quote';
import { newBoxFromTemplate } from './from-template';
import { importVmAsBox } from './import-vm';
import { hostVmAction, requestVmAction } from './lifecycle';
import { boxVmStatus } from './views';
import { ensureVmBoxRunning } from './wake';

/**
 * ONE real Debian guest (systemd, sshd) under QEMU TCG in this machine's libvirtd, driven through a lab hypervisor
 * host: a new box from a stopped template (clone, memory set, start, wait for SSH, a command in it), suspend and
 * wake on demand back to SSH (the terminal manager's entry point), a graceful stop, then the same VM imported as a
 * box by hand. Needs libvirtd, docker and the cached guest image: fails loudly without them.
 */
describe('a real guest through Boxyard', () => {
  let services: Services;
  let admin: SessionUser;
  let lab: LibvirtHost;
  let template: LabVm;
  let hostId: string;
  let cloneId: string | null = null;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-vms-guest-'));

  beforeAll(async () => {
    ({ services } = await startServices(loadEnv({ BOXYARD_DATA_DIR: dataDir, BOXYARD_ADMIN_PASSWORD: 'vms-guest-test-password' }), { pollStatus: false }));
    const user = await services.db.user.findFirstOrThrow({ where: { role: 'admin' } });
    admin = { id: user.id, email: user.email, name: user.name, role: 'admin' };
    [lab, template] = await Promise.all([startLibvirtHost({ namePrefix: 'boxyard-lab-vmguest' }), startLabVm({ template: true, namePrefix: 'tmpl' })]);
    await lab.authorize(services.dashboardPublicKey);
    hostId = (await createHost(services.db, services.secrets, { name: 'lab-kvm', kind: 'libvirt', host: lab.host, port: lab.port, sshUser: lab.user, auth: { method: 'dashboard-key' } })).id;
  }, 300_000);

  afterAll(async () => {
    await stopServices(services);
    if (cloneId) await removeDomain(cloneId).catch(() => undefined);
    await template?.remove();
    await lab?.remove();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const job = (id: string) => services.db.job.findUniqueOrThrow({ where: { id } });
  const logText = async (id: string) => (await services.db.jobLog.findMany({ where: { jobId: id }, orderBy: { seq: 'asc' } })).map((line) => line.text).join('\n');
  // A job that clones, starts and waits for a TCG guest: its boot, plus a clone that a loaded disk slows (it took over 300 s once when the machine ran other suites).
  async function finished(id: string, timeout = LAB_VM_BOOT_TIMEOUT_MS + 180_000) {
    await expect.poll(async () => (await job(id)).status, { timeout, interval: 250 }).toMatch(/^(succeeded|failed|cancelled)$/);
    const row = await job(id);
    return { ...row, log: await logText(id) };
  }
  const run = async (boxId: string, command: string) => services.remote.exec(boxId, sh.raw(command), { actor: admin, purpose: 'test' });

  it('new box from template: clone, set memory, start, wait for SSH, then a command runs in it; suspend, wake on demand, stop; import by hand', async () => {
    const name = `lab-clone-${Date.now().toString(36)}`;
    // The clone keeps the template's forwarded port (lab/vm.ts): fine, the template never runs.
    const { jobId, boxId } = await newBoxFromTemplate(services, admin, {
      hostId,
      templateId: template.uuid,
      name,
      memoryMiB: 768,
      sshUser: 'dev',
      address: { host: '127.0.0.1', port: template.sshPort },
      auth: { method: 'private-key', privateKey: template.privateKey },
      provisionDocker: false,
      sshTimeoutSeconds: Math.round(LAB_VM_BOOT_TIMEOUT_MS / 1000),
    });
    const cloned = await finished(jobId);
    expect(cloned.error).toBeNull();
    expect(cloned.status).toBe('succeeded');
    const box = await services.db.box.findUniqueOrThrow({ where: { id: boxId } });
    cloneId = box.vmId;
    expect(box).toMatchObject({ vmHostId: hostId, host: '127.0.0.1', port: template.sshPort });
    expect((await virshOk(['dominfo', '--domain', name])).match(/Max memory:\s+(\d+)/)?.[1]).toBe(String(768 * 1024));
    expect(cloned.log).toMatch(new RegExp(`${name} answers SSH on 127\\.0\\.0\\.1:${template.sshPort} after \\d+\\.\\d s\\.`));
    expect((await run(boxId, 'echo "$(id -un) on $(hostname)"')).stdout.trim()).toMatch(/^dev on /);

    // A second clone with the same name is refused before anything is made.
    await expect(
      newBoxFromTemplate(services, admin, { hostId, templateId: template.uuid, name, sshUser: 'dev', address: { host: '', port: 22 }, auth: { method: 'dashboard-key' }, provisionDocker: false, sshTimeoutSeconds: 60 }),
    ).rejects.toThrow(`A VM named ${name} already exists on host lab-kvm; choose another name.`);

    // Auto-suspend's entry point, then the terminal manager's: back to a working SSH login.
    const suspended = await finished(await requestVmAction(services, { boxId, action: 'suspend', actor: admin, reason: 'idle for 30 min (test)' }));
    expect(suspended.status).toBe('succeeded');
    expect(suspended.log).toContain('Reason: idle for 30 min (test)');
    expect(await boxVmStatus(services, admin, boxId)).toMatchObject({ vm: { state: 'suspended' }, actions: ['resume'] });
    await expect(requestVmAction(services, { boxId, action: 'suspend', actor: admin, reason: 'again' })).resolves.toBeTypeOf('string');
    // (that second suspend is a no-op job: "already suspended")
    await expect.poll(async () => (await services.db.job.count({ where: { hostId, status: { in: ['queued', 'running'] } } })), { timeout: 60_000 }).toBe(0);
    const woke = await ensureVmBoxRunning(services, { boxId, actor: admin, timeoutMs: LAB_VM_BOOT_TIMEOUT_MS });
    expect(woke.outcome).toBe('resumed');
    expect((await run(boxId, 'cat /proc/uptime')).code).toBe(0);
    expect(await ensureVmBoxRunning(services, { boxId, actor: admin })).toEqual({ outcome: 'running', jobId: null });

    // A real guest shuts down by itself when asked.
    const stopped = await finished((await hostVmAction(services, admin, { hostId, vmId: box.vmId!, action: 'stop', stopTimeoutSeconds: 120 })).jobId);
    expect(stopped.status).toBe('succeeded');
    expect(stopped.log).toContain(`${name} shut down by itself (graceful).`);

    // Import the same VM again as a box, address by hand; start it and run a command through the new box.
    await deleteBox(services.db, admin, boxId);
    await services.pool.evict(boxId);
    const imported = await importVmAsBox(services, admin, {
      hostId,
      vmId: box.vmId!,
      name: `${name}-imported`,
      sshUser: 'dev',
      address: { host: '127.0.0.1', port: template.sshPort },
      auth: { method: 'private-key', privateKey: template.privateKey },
      tags: [],
    });
    const start = await ensureVmBoxRunning(services, { boxId: imported.boxId, actor: admin, timeoutMs: LAB_VM_BOOT_TIMEOUT_MS });
    expect(start.outcome).toBe('started');
    expect((await run(imported.boxId, 'systemctl is-system-running --wait >/dev/null; id -un')).stdout.trim()).toBe('dev');
  }, 900_000);
});

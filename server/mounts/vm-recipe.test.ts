import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createShareDir, LAB_SHARES_DIR, startLibvirtHost, virshOk, removeDomain, type LibvirtHost } from '../../testing/lab/libvirt-host';
import { startLabVm, type LabVm } from '../../testing/lab/vm';
import type { SessionUser } from '../boxes/access';
import { createBox } from '../boxes/boxes';
import { loadEnv } from '../env';
import { createHost } from '../hosts/hosts';
import { setShareRoots } from '../hosts/share-roots';
import { startServices, stopServices, type Services } from '../services';
import { mountKey } from './compile';
import { applyMounts, savePolicy } from './mounts';

/**
 * The apply job end to end, as the dashboard runs it: a lab VM (testing/lab/vm.ts, Debian under QEMU TCG in this
 * machine's libvirtd) that is a box on a lab libvirt host. The job adds the 9p shares to the STOPPED VM's
 * configuration through the host (virsh attach-device --config over SSH), starts it, mounts with systemd units,
 * verifies /proc/mounts and records the applied configuration; a share missing on a RUNNING VM is refused with what
 * to do; virtiofs without shared memory backing is refused by name.
 */
describe('mounts.apply on a lab VM behind a lab libvirt host', () => {
  let services: Services;
  let admin: SessionUser;
  let lab: LibvirtHost;
  let vm: LabVm;
  let boxId: string;
  let share: string;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-mounts-recipe-'));

  beforeAll(async () => {
    ({ services } = await startServices(loadEnv({ BOXYARD_DATA_DIR: dataDir, BOXYARD_ADMIN_PASSWORD: 'mounts-recipe-test-password', JOB_STEP_ATTEMPTS: '8' }), { pollStatus: false }));
    const user = await services.db.user.findFirstOrThrow({ where: { role: 'admin' } });
    admin = { id: user.id, email: user.email, name: user.name, role: 'admin' };
    lab = await startLibvirtHost({ namePrefix: 'boxyard-lab-mounts' });
    await lab.authorize(services.dashboardPublicKey);
    const hostId = (await createHost(services.db, services.secrets, { name: 'lab-kvm-mounts', kind: 'libvirt', host: lab.host, port: lab.port, sshUser: lab.user, auth: { method: 'dashboard-key' } })).id;
    // The lab's share folders are the only host folders its VMs may share (none by default).
    await setShareRoots(services.db, admin, hostId, [`${LAB_SHARES_DIR}/*`]);
    vm = await startLabVm({ namePrefix: 'mounts', start: false });
    share = await createShareDir('mounts');
    mkdirSync(path.join(share, 'build'), { mode: 0o777 });
    const box = await createBox(services.db, services.secrets, admin, { name: 'mounts-lab-vm', host: vm.host, port: vm.sshPort, sshUser: 'root', tags: [], notes: '', memberIds: [], auth: { method: 'private-key', privateKey: vm.privateKey } });
    boxId = box.id;
    await services.db.box.update({ where: { id: boxId }, data: { vmHostId: hostId, vmId: vm.uuid } });
  }, 600_000);

  afterAll(async () => {
    if (services) await stopServices(services);
    if (vm) await removeDomain(vm.uuid).catch(() => undefined);
    await lab?.remove();
    if (share) rmSync(share, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  const job = (id: string) => services.db.job.findUniqueOrThrow({ where: { id } });
  const logText = async (id: string) => (await services.db.jobLog.findMany({ where: { jobId: id }, orderBy: { seq: 'asc' } })).map((line) => line.text).join('\n');
  async function applied() {
    const { jobId } = await applyMounts(services, admin, boxId);
    await expect.poll(async () => (await job(jobId)).status, { timeout: 600_000, interval: 500 }).toMatch(/^(succeeded|failed|cancelled)$/);
    return { ...(await job(jobId)), log: await logText(jobId) };
  }
  const guest = async (command: string) => {
    const result = await vm.exec(command);
    if (result.code !== 0) throw new Error(`${command}: ${result.stderr}`);
    return result.stdout;
  };

  it('refuses virtiofs on a domain without shared memory backing, naming the fix', async () => {
    await savePolicy(services.db, admin, boxId, [{ hostPath: share, guestPath: '/srv/app', transport: 'virtiofs', mode: 'cached', readOnly: false, overrides: [] }]);
    const result = await applied();
    expect(result.status).toBe('failed');
    expect(result.error).toContain("virtiofs needs shared memory backing in mounts-lab-vm's domain");
  }, 120_000);

  it('adds the 9p shares to the stopped VM, starts it, mounts the parent cached and build consistent, and records it', async () => {
    await savePolicy(services.db, admin, boxId, [{ hostPath: share, guestPath: '/srv/app', transport: '9p', mode: 'cached', readOnly: false, overrides: [{ subPath: 'build', mode: 'consistent' }] }]);
    const result = await applied();
    expect(result.error).toBeNull();
    expect(result.status).toBe('succeeded');
    expect(result.log).toContain('Starting the VM with its new shared folders.');
    const xml = await virshOk(['dumpxml', '--domain', vm.uuid]);
    expect(xml).toContain(`<target dir='${mountKey('/srv/app')}'/>`);
    expect(xml).toContain(`<target dir='${mountKey('/srv/app/build')}'/>`);
    const proc = (await guest('cat /proc/mounts')).split('\n').filter((line) => line.includes(' /srv/app'));
    expect(proc.find((l) => l.split(' ')[1] === '/srv/app')).toMatch(/ 9p .*loose/);
    expect(proc.find((l) => l.split(' ')[1] === '/srv/app/build')).toMatch(/ 9p /);
    expect(proc.find((l) => l.split(' ')[1] === '/srv/app/build')).not.toMatch(/loose/);
    // consistent build: a host write shows at once
    writeFileSync(path.join(share, 'build', 'x.o'), 'v1\n');
    expect(await guest('cat /srv/app/build/x.o')).toBe('v1\n');
    writeFileSync(path.join(share, 'build', 'x.o'), 'v2\n');
    expect(await guest('cat /srv/app/build/x.o')).toBe('v2\n');
    // cached parent: a box write reaches the host at once
    await guest('echo from-box > /srv/app/main.go');
    expect(readFileSync(path.join(share, 'main.go'), 'utf8')).toBe('from-box\n');
    const rows = await services.db.mount.findMany({ where: { boxId } });
    expect(rows[0]).toMatchObject({ status: 'applied', lastError: null });
    expect(JSON.parse(rows[0].appliedConfig!)).toHaveLength(2);
  }, 700_000);

  it('applying again changes nothing; a new share on the running VM is refused with what to do, and the old mounts stay', async () => {
    const again = await applied();
    expect(again.status).toBe('succeeded');
    const other = await createShareDir('mounts2');
    await savePolicy(services.db, admin, boxId, [
      { hostPath: share, guestPath: '/srv/app', transport: '9p', mode: 'cached', readOnly: false, overrides: [{ subPath: 'build', mode: 'consistent' }] },
      { hostPath: other, guestPath: '/srv/other', transport: '9p', mode: 'consistent', readOnly: false, overrides: [] },
    ]);
    const refused = await applied();
    expect(refused.status).toBe('failed');
    expect(refused.error).toMatch(/mounts-lab-vm is running, and libvirt adds a shared folder only to a stopped VM .*Stop the VM in Boxyard and apply again/);
    expect(await guest('grep -c " /srv/app" /proc/mounts')).toBe('2\n');
    rmSync(other, { recursive: true, force: true });
  }, 700_000);
});

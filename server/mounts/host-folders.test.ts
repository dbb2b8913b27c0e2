import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createShareDir, defineEmptyDomain, labDomainName, LAB_SHARES_DIR, removeDomain, startLibvirtHost, virshOk, type LibvirtHost } from '../../testing/lab/libvirt-host';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import type { SessionUser } from '../boxes/access';
import { createBox } from '../boxes/boxes';
import { loadEnv } from '../env';
import { isAppError } from '../errors';
import { createHost } from '../hosts/hosts';
import { appRouter } from '../trpc/router';
import { createUser } from '../users/users';
import { startServices, stopServices, type Services } from '../services';
import { applyMounts, savePolicy } from './mounts';
import type { MountSpec } from './policy';

/**
 * Host folders a box owner may share into their VM are the host admin's decision (server/hosts/share-roots.ts),
 * checked when a mount is saved and again by the apply job against the folder's real path ON the host (a real lab
 * libvirt host over SSH: realpath there, symlinks resolved). The check runs before the job needs the VM, so the box's
 * vmId names no domain and no VM boots: a job that gets past the check fails at "the VM no longer exists".
 */
describe('host folders a VM box may share', () => {
  let services: Services;
  let admin: SessionUser;
  let owner: SessionUser;
  let lab: LibvirtHost;
  let hostId: string;
  let boxId: string;
  let shares: string;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-host-folders-'));
  const root = `${LAB_SHARES_DIR}/hostfolders-*/src`;

  beforeAll(async () => {
    ({ services } = await startServices(loadEnv({ BOXYARD_DATA_DIR: dataDir, BOXYARD_ADMIN_PASSWORD: 'host-folders-test-password', JOB_STEP_ATTEMPTS: '2' }), { pollStatus: false }));
    const user = await services.db.user.findFirstOrThrow({ where: { role: 'admin' } });
    admin = { id: user.id, email: user.email, name: user.name, role: 'admin' };
    const dev = await createUser(services.db, { email: 'owner@example.com', name: 'owner', password: 'a-long-password', role: 'developer' });
    owner = { id: dev.id, email: dev.email, name: dev.name, role: 'developer' };
    lab = await startLibvirtHost({ namePrefix: 'boxyard-lab-hostfolders' });
    await lab.authorize(services.dashboardPublicKey);
    hostId = (await createHost(services.db, services.secrets, { name: 'lab-kvm-folders', kind: 'libvirt', host: lab.host, port: lab.port, sshUser: lab.user, auth: { method: 'dashboard-key' } })).id;
    // The lab host sees LAB_SHARES_DIR at the same path: src/ is a folder, src/inside -> src/app stays in, src/escape -> /root leaves.
    shares = await createShareDir('hostfolders');
    mkdirSync(path.join(shares, 'src', 'app'), { recursive: true });
    mkdirSync(path.join(shares, 'other'));
    symlinkSync(path.join(shares, 'src', 'app'), path.join(shares, 'src', 'inside'));
    symlinkSync('/root', path.join(shares, 'src', 'escape'));
    symlinkSync(path.join(shares, 'other'), path.join(shares, 'src', 'sideways'));
    const box = await createBox(services.db, services.secrets, admin, { name: 'folders-vm', host: lab.host, port: lab.port, sshUser: lab.user, tags: [], notes: '', memberIds: [], auth: { method: 'dashboard-key' } });
    boxId = box.id;
    await services.db.box.update({ where: { id: boxId }, data: { vmHostId: hostId, vmId: '00000000-0000-4000-8000-00000000f01d', ownerId: owner.id } });
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    if (services) await stopServices(services);
    await lab?.remove();
    if (shares) rmSync(shares, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  const mount = (hostPath: string, transport: MountSpec['transport'] = '9p'): MountSpec => ({ hostPath, guestPath: '/srv/app', transport, mode: 'consistent', readOnly: false, overrides: [] });
  const as = (user: SessionUser) => appRouter.createCaller({ services, user });
  async function refusal(promise: Promise<unknown>) {
    const error = await promise.then(() => null, (caught: unknown) => caught);
    expect(isAppError(error, 'FORBIDDEN')).toBe(true);
    return (error as Error).message;
  }
  /** libvirtd on this shared machine can take tens of seconds per call under load (define, attach-device). */
  async function applied(timeout = 60_000) {
    const { jobId } = await applyMounts(services, owner, boxId);
    await expect.poll(async () => (await services.db.job.findUniqueOrThrow({ where: { id: jobId } })).status, { timeout, interval: 250 }).toMatch(/^(succeeded|failed|cancelled)$/);
    const job = await services.db.job.findUniqueOrThrow({ where: { id: jobId } });
    const log = (await services.db.jobLog.findMany({ where: { jobId }, orderBy: { seq: 'asc' } })).map((line) => line.text).join('\n');
    return { ...job, log };
  }

  it('none by default: the owner may share no folder of the host, and is told so in plain words (audited)', async () => {
    for (const hostPath of ['/', '/root/.ssh', '/var/lib/libvirt/images']) {
      for (const transport of ['9p', 'virtiofs'] as const) {
        const message = await refusal(savePolicy(services.db, owner, boxId, [mount(hostPath, transport)]));
        expect(message).toBe(`/srv/app: ${hostPath} may not be shared into a VM: an admin has not allowed any folder of lab-kvm-folders to be shared yet. Choose a folder under one of them, or ask an admin to add it on the host's page.`);
      }
    }
    expect(await services.db.mount.count({ where: { boxId } })).toBe(0);
    const audit = await services.db.auditEvent.findFirstOrThrow({ where: { action: 'mounts.save', result: 'error' }, orderBy: { at: 'desc' } });
    expect(audit).toMatchObject({ actorEmail: 'owner@example.com', boxId });
    expect(audit.error).toContain('/var/lib/libvirt/images may not be shared');
  });

  it('only an admin sets the roots (tRPC), and the change is audited', async () => {
    await expect(as(owner).hosts.setShareRoots({ id: hostId, roots: ['/'] })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(as(admin).hosts.setShareRoots({ id: hostId, roots: ['relative/path'] })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(as(admin).hosts.setShareRoots({ id: hostId, roots: ['/srv/../etc'] })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const host = await as(admin).hosts.setShareRoots({ id: hostId, roots: [`${root}/`] });
    expect(host.shareRoots).toEqual([root]);
    const audit = await services.db.auditEvent.findFirstOrThrow({ where: { action: 'host.share-roots' }, orderBy: { at: 'desc' } });
    expect(JSON.parse(audit.detail)).toEqual({ hostId, hostName: 'lab-kvm-folders', before: [], after: [root] });
    expect(audit.actorEmail).toBe(admin.email);
  });

  it('a save outside the roots is refused, naming them; one under a root is kept', async () => {
    for (const hostPath of ['/', '/root/.ssh', `${shares}/other`, `${shares}/srcx`, `${LAB_SHARES_DIR}/src`]) {
      const message = await refusal(savePolicy(services.db, owner, boxId, [mount(hostPath, 'virtiofs')]));
      expect(message).toBe(`/srv/app: ${hostPath} may not be shared into a VM: the folders an admin allows to share from lab-kvm-folders are ${root}. Choose a folder under one of them, or ask an admin to add it on the host's page.`);
    }
    await savePolicy(services.db, owner, boxId, [mount(`${shares}/src/app`)]);
    expect((await services.db.mount.findFirstOrThrow({ where: { boxId } })).hostPath).toBe(`${shares}/src/app`);
  });

  it('the apply job resolves the real path on the host: a symlink out of the root is refused before the VM is touched', async () => {
    await savePolicy(services.db, owner, boxId, [mount(`${shares}/src/escape`)]);
    const escape = await applied();
    expect(escape.status).toBe('failed');
    expect(escape.error).toContain(`/srv/app: ${shares}/src/escape (which is /root on lab-kvm-folders, symlinks resolved) may not be shared into a VM: the folders an admin allows to share from lab-kvm-folders are ${root}.`);
    expect(escape.log).not.toContain('no longer exists');

    await savePolicy(services.db, owner, boxId, [mount(`${shares}/src/sideways`)]);
    expect((await applied()).error).toContain(`${shares}/src/sideways (which is ${shares}/other on lab-kvm-folders, symlinks resolved) may not be shared`);

    await savePolicy(services.db, owner, boxId, [mount(`${shares}/src/missing`)]);
    expect((await applied()).error).toContain(`the host path ${shares}/src/missing (for /srv/app) does not exist on lab-kvm-folders`);
  }, 120_000);

  it('a symlink that stays inside passes the check (the job then needs the VM, which this box does not have)', async () => {
    await savePolicy(services.db, owner, boxId, [mount(`${shares}/src/inside`)]);
    const inside = await applied();
    expect(inside.log).toContain(`${shares}/src/inside is ${shares}/src/app on lab-kvm-folders, under an allowed root.`);
    expect(inside.error).toContain('(Share the folders on the hypervisor host) failed: could not read the VM\'s configuration on its host: folders-vm is not a VM on host lab-kvm-folders');
  }, 120_000);

  it('the VM gets the checked real path, not the symlink the owner wrote (a stopped diskless domain: nothing boots)', async () => {
    const domain = await defineEmptyDomain(labDomainName('hostfolders'));
    try {
      await services.db.box.update({ where: { id: boxId }, data: { vmId: domain.uuid } });
      await savePolicy(services.db, owner, boxId, [mount(`${shares}/src/inside`)]);
      await applied(300_000); // goes on into the box (the lab host itself), where a 9p mount cannot work: only the host side matters here
      const xml = await virshOk(['dumpxml', '--domain', domain.uuid, '--inactive']);
      expect(xml).toContain(`<source dir='${shares}/src/app'/>`);
      expect(xml).not.toContain('src/inside');
    } finally {
      await services.db.box.update({ where: { id: boxId }, data: { vmId: '00000000-0000-4000-8000-00000000f01d' } });
      await removeDomain(domain.uuid);
    }
  }, 420_000);

  it('a path that quotes badly is one word on the host: $(...) in it does not run', async () => {
    const hostile = `${shares}/src/$(touch ${shares}/canary)\`touch ${shares}/canary2\`'; touch ${shares}/canary3 #`;
    await savePolicy(services.db, owner, boxId, [mount(hostile)]);
    const result = await applied();
    expect(result.error).toContain(`the host path ${hostile} (for /srv/app) does not exist on lab-kvm-folders`);
    const canaries = await lab.root(`ls ${shares} | grep -c canary || true`);
    expect(canaries.stdout.trim()).toBe('0');
  }, 120_000);

  it('narrowing the roots later refuses an already saved mount at the next apply', async () => {
    await savePolicy(services.db, owner, boxId, [mount(`${shares}/src/app`)]);
    await as(admin).hosts.setShareRoots({ id: hostId, roots: [`${shares}/other`] });
    const result = await applied();
    expect(result.error).toContain(`/srv/app: ${shares}/src/app may not be shared into a VM: the folders an admin allows to share from lab-kvm-folders are ${shares}/other.`);
  }, 120_000);
});

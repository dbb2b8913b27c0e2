// The libvirt driver end to end, as in production: SSH (the real pool) to a lab hypervisor host, whose virsh drives
// this machine's libvirtd, which runs real QEMU (TCG) guests. One real Debian guest (systemd, sshd) exercises
// what needs an OS (SSH, ACPI shutdown, managedsave of a live guest); a second real guest is a clone of a template,
// booted to prove the clone is a working, distinct machine. Diskless domains (no OS) cover the rest.
// Needs scripts/test-deps.sh (libvirtd, docker, the lab images): without them the tests FAIL, they never skip.
import { rm, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createShareDir,
  defineEmptyDomain,
  labDomainName,
  removeDomain,
  startLibvirtHost,
  virshOk,
  type LabDomain,
  type LibvirtHost,
} from '../../testing/lab/libvirt-host';
import { labCloneFixup, qemuRssMiB, startLabVm, type LabVm } from '../../testing/lab/vm';
import { SshPool } from '../ssh/pool';
import { LAB_START_TIMEOUT_MS, labTarget } from '../../testing/helpers/ssh';
import type { HostExec, VmInfo, VmRef } from './driver';
import { LibvirtDriver } from './libvirt';

// Boot to SSH under TCG is ~20 s on an idle machine; CI shares 2 cores with other work.
const BOOT_TIMEOUT_MS = 240_000;
const STEP_TIMEOUT_MS = 180_000;

let host: LibvirtHost;
let pool: SshPool;
let driver: LibvirtDriver;
let guest: LabVm;
let template: LabVm;
let empty: LabDomain;
let shares: { ninep: string; virtiofs: string };
const cleanup: string[] = [];
// machine-id and SSH host key, both made at first boot: a clone of a never-booted template must get its own.
const IDENTITY = 'cat /etc/machine-id; ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub';
let guestIdentity = '';

function ref(vm: { uuid: string; name: string }): VmRef {
  return { id: vm.uuid, name: vm.name };
}

async function listed(vm: { uuid: string }): Promise<VmInfo | undefined> {
  return (await driver.listVms()).find((info) => info.id === vm.uuid);
}

async function state(vm: { uuid: string }): Promise<string | undefined> {
  return (await listed(vm))?.state;
}

beforeAll(async () => {
  shares = { ninep: await createShareDir('ninep'), virtiofs: await createShareDir('virtiofs') };
  await writeFile(`${shares.ninep}/from-host`, 'over 9p\n');
  await writeFile(`${shares.virtiofs}/from-host`, 'over virtiofs\n');
  // The guest and the template are defined, not started: the driver starts them. The shares sit on the template
  // (cloned with it): the guest must have none, since libvirt cannot managedsave a domain with virtiofs.
  [host, guest, template, empty] = await Promise.all([
    startLibvirtHost({ namePrefix: 'boxyard-libvirt-vm' }),
    // docker: false: nothing here uses dockerd in the guest, and it is a large part of a TCG boot's CPU.
    startLabVm({ namePrefix: 'drv', start: false, docker: false }),
    startLabVm({
      namePrefix: 'tpl',
      template: true,
      docker: false,
      shares: { ninep: [{ tag: 'src9p', hostPath: shares.ninep }], virtiofs: [{ tag: 'srcfs', hostPath: shares.virtiofs }] },
    }),
    defineEmptyDomain(),
  ]);
  cleanup.push(guest.name, template.name, empty.name);
  pool = new SshPool();
  pool.start();
  const exec: HostExec = (command, options) => pool.exec(host.name, labTarget(host), command, options);
  driver = new LibvirtDriver(exec, { hostName: 'lab hypervisor', connectUri: host.connectUri, stopPollIntervalMs: 500 });
}, LAB_START_TIMEOUT_MS);

afterAll(async () => {
  await pool?.stop();
  // Every lab domain this file made, whatever failed; removeDomain refuses anything not made by the lab.
  for (const name of cleanup) await removeDomain(name).catch((error: unknown) => console.error(error));
  await host?.remove();
  if (shares) await Promise.all(Object.values(shares).map((dir) => rm(dir, { recursive: true, force: true })));
}, STEP_TIMEOUT_MS);

describe('libvirt driver on a real guest (SSH -> virsh -> libvirtd -> QEMU TCG)', () => {
  it('lists the lab domains with their state, CPUs and memory', async () => {
    expect(await listed(guest)).toMatchObject({ name: guest.name, state: 'stopped', rawState: 'shut off', cpus: 2, memoryMiB: 1024 });
    expect(await listed(empty)).toMatchObject({ name: empty.name, state: 'stopped', cpus: 1, memoryMiB: 64 });
  });

  it('starts the guest, which then answers over SSH on its forwarded port', async () => {
    await driver.start(ref(guest));
    expect(await state(guest)).toBe('running');
    const waitedMs = await guest.waitForSsh(BOOT_TIMEOUT_MS);
    const uname = await guest.exec('uname -r');
    expect(uname).toMatchObject({ code: 0, stdout: expect.stringMatching(/^6\.\d+\.\d+-\d+-amd64\n$/) });
    guestIdentity = (await guest.exec(IDENTITY)).stdout;
    expect(guestIdentity).toMatch(/SHA256:/);
    console.log(`boot to SSH: ${waitedMs} ms after start; QEMU RSS ${await qemuRssMiB(guest.name)} MiB`);
  }, BOOT_TIMEOUT_MS);

  it('pauses and resumes the guest', async () => {
    await driver.pause(ref(guest));
    expect(await listed(guest)).toMatchObject({ state: 'paused', rawState: 'paused' });
    await driver.resume(ref(guest));
    expect(await state(guest)).toBe('running');
    expect((await guest.exec('echo alive')).stdout).toBe('alive\n');
  }, STEP_TIMEOUT_MS);

  it('suspends with managedsave and restores the same running guest (not a reboot)', async () => {
    const marker = `${Date.now()}`;
    await guest.exec(`echo ${marker} > /run/lab-marker`);
    await driver.suspend(ref(guest));
    expect(await listed(guest)).toMatchObject({ state: 'suspended', rawState: 'shut off (saved)' });
    expect(await driver.hostCpuSeconds(ref(guest))).toBeNull();
    await driver.resume(ref(guest));
    expect(await state(guest)).toBe('running');
    // /run is a tmpfs: the marker survives only if the memory was restored.
    expect((await guest.exec('cat /run/lab-marker')).stdout.trim()).toBe(marker);
  }, STEP_TIMEOUT_MS);

  it('reports host CPU time of the running guest (domstats)', async () => {
    const first = await driver.hostCpuSeconds(ref(guest));
    expect(first).toBeGreaterThan(0);
    await guest.exec('sh -c "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"');
    expect(await driver.hostCpuSeconds(ref(guest))).toBeGreaterThan(first!);
  }, STEP_TIMEOUT_MS);

  it('cannot tell the address of a user-mode-networking guest (no lease, ARP or agent): null, no error', async () => {
    expect(await driver.guestIp(ref(guest))).toBeNull();
  }, STEP_TIMEOUT_MS);

  it('stops the guest gracefully: ACPI power button -> systemd powers off', async () => {
    expect(await driver.stop(ref(guest), { timeoutMs: 120_000 })).toEqual({ outcome: 'graceful' });
    expect(await state(guest)).toBe('stopped');
  }, STEP_TIMEOUT_MS);
});

describe('libvirt driver on a diskless domain (no OS)', () => {
  it('starts, pauses, suspends and restores in well under a second each', async () => {
    const vm = ref(empty);
    await driver.start(vm);
    expect(await state(empty)).toBe('running');
    await driver.pause(vm);
    expect(await state(empty)).toBe('paused');
    await driver.resume(vm);
    await driver.suspend(vm);
    expect(await state(empty)).toBe('suspended');
    await driver.resume(vm);
    expect(await state(empty)).toBe('running');
  });

  it('powers it off after the timeout when nothing answers the shutdown request', async () => {
    const started = Date.now();
    expect(await driver.stop(ref(empty), { timeoutMs: 2_000 })).toEqual({ outcome: 'forced' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    expect(await state(empty)).toBe('stopped');
  });
});

describe('clone from a template through the driver (virt-clone on the hypervisor host)', () => {
  it('clones the template; after labCloneFixup the clone boots on its own port as a distinct machine, with its shares', async () => {
    const cloneName = labDomainName('clone');
    cleanup.push(cloneName);
    const cloneStarted = Date.now();
    const info = await driver.clone(ref(template), cloneName);
    const cloneMs = Date.now() - cloneStarted;
    expect(info).toMatchObject({ name: cloneName, state: 'stopped', cpus: 2, memoryMiB: 1024 });
    expect(info.id).not.toBe(template.uuid);
    // The clone's disk is its own volume in the lab pool, not the template's.
    const disks = await virshOk(['domblklist', '--domain', cloneName, '--details']);
    expect(disks).not.toContain(`${template.name}.qcow2`);

    const clone = await labCloneFixup(cloneName);
    expect(clone.sshPort).not.toBe(template.sshPort);
    await driver.start({ id: info.id, name: cloneName });
    const bootMs = await clone.waitForSsh(BOOT_TIMEOUT_MS);
    console.log(`virt-clone through the driver: ${cloneMs} ms; clone boot to SSH: ${bootMs} ms`);
    const identity = await clone.exec(IDENTITY);
    expect(identity).toMatchObject({ code: 0, stdout: expect.stringMatching(/SHA256:/) });
    expect(identity.stdout).not.toBe(guestIdentity);
    // The template's 9p and virtiofs shares came along and mount in the guest.
    const mounted = await clone.exec('mkdir -p /mnt/9p /mnt/fs && mount -t 9p -o trans=virtio,version=9p2000.L src9p /mnt/9p && mount -t virtiofs srcfs /mnt/fs && cat /mnt/9p/from-host /mnt/fs/from-host');
    expect(mounted).toMatchObject({ code: 0, stdout: 'over 9p\nover virtiofs\n' });
    await removeDomain(cloneName);
    expect(await listed({ uuid: info.id })).toBeUndefined();
  }, BOOT_TIMEOUT_MS + STEP_TIMEOUT_MS);
});

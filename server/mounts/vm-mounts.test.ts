import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createShareDir, LAB_SHARES_DIR } from '../../testing/lab/libvirt-host';
import { LAB_VM_BOOT_TIMEOUT_MS, startLabVm, type LabVirtiofsCache, type LabVm, type LabVmOptions } from '../../testing/lab/vm';
import type { SessionUser } from '../boxes/access';
import { createBox } from '../boxes/boxes';
import { loadEnv } from '../env';
import { StepFailed } from '../jobs/recipe';
import { startServices, stopServices, type Services } from '../services';
import type { ExecResult } from '../ssh/pool';
import type { ShellCommand } from '../ssh/quote';
import { applyOnGuest, writeBackDelegatedMounts, type RootRun } from './apply-recipe';
import { compilePolicy, type CompiledEntry } from './compile';
import { parseGuestFacts, parseProcMounts, probeGuestCommand, SYNC_TOOL } from './guest';
import { savePolicy } from './mounts';
import type { MountSpec } from './policy';

/**
 * Real 9p and virtiofs mounts in a real Debian guest (the lab VM of testing/lab/vm.ts: QEMU TCG in this machine's
 * libvirtd, one virtiofsd per share with the compiled cache policy), applied with the product's own guest scripts
 * (systemd mount units) and checked by what the box and the host OBSERVE, not by the options alone.
 * Small on purpose: TCG is slow, so the whole file boots ONE guest; the full tables are bench/mounts.ts.
 * Fails (never skips) when libvirtd or the guest image is missing: run scripts/test-deps.sh.
 */

// Share folders live under LAB_SHARES_DIR: QEMU runs as libvirt-qemu and must reach them (set in beforeAll).
let HOST = path.join(LAB_SHARES_DIR, 'vm-mounts-unset');
const spec = (name: string, transport: '9p' | 'virtiofs', mode: MountSpec['mode'], overrides: MountSpec['overrides'] = []): MountSpec => ({
  hostPath: `${HOST}/${name}`,
  guestPath: `/srv/m/${name}`,
  transport,
  mode,
  readOnly: false,
  overrides,
});
const policy = (): MountSpec[] => [
  spec('9p-consistent', '9p', 'consistent'),
  spec('9p-cached', '9p', 'cached'),
  spec('9p-delegated', '9p', 'delegated'),
  spec('vfs-consistent', 'virtiofs', 'consistent'),
  spec('vfs-cached', 'virtiofs', 'cached'),
  spec('vfs-delegated', 'virtiofs', 'delegated'),
  spec('tree', '9p', 'cached', [
    { subPath: 'build', mode: 'delegated' },
    { subPath: 'vendor', mode: 'consistent' },
  ]),
];

/**
 * The shares the hypervisor would have from the compiled host side, as the lab VM's options: tag, folder and, for
 * virtiofs, the virtiofsd cache policy the compiled libvirt XML names.
 */
function sharesOf(entries: readonly CompiledEntry[]): NonNullable<LabVmOptions['shares']> {
  const withShare = entries.filter((e) => e.host.share);
  for (const e of withShare) if (e.transport !== '9p' && e.transport !== 'virtiofs') throw new Error(`lab VM shares: ${e.transport} is not a libvirt share`);
  const share = (e: CompiledEntry) => ({ tag: e.host.share!.name, hostPath: e.host.share!.hostPath });
  return {
    ninep: withShare.filter((e) => e.transport === '9p').map((e) => ({ ...share(e), readOnly: e.host.share!.readOnly })),
    virtiofs: withShare
      .filter((e) => e.transport === 'virtiofs')
      .map((e) => ({ ...share(e), cache: (/cache mode='(\w+)'/.exec(e.host.text)?.[1] as LabVirtiofsCache | undefined) ?? 'auto' })),
  };
}

const shareFolders = (shares: NonNullable<LabVmOptions['shares']>) => [...(shares.ninep ?? []), ...(shares.virtiofs ?? [])].map((share) => share.hostPath);

/**
 * Makes every share's host folder, owned by root as a developer's folder is by its developer (0777: QEMU runs as
 * libvirt-qemu and the guest writes through it; the write-back must cope with a folder QEMU does not own).
 */
function makeShareFolders(shares: NonNullable<LabVmOptions['shares']>): void {
  for (const folder of shareFolders(shares)) {
    mkdirSync(folder, { recursive: true });
    chmodSync(folder, 0o777);
  }
}

describe('mount modes in a real VM (9p and virtiofs)', () => {
  let vm: LabVm;
  let run: RootRun;
  let services: Services;
  let admin: SessionUser;
  let boxId: string;
  let entries: CompiledEntry[];
  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-vm-mounts-'));
  const hostFile = (rel: string) => path.join(HOST, rel);

  async function guest(command: string): Promise<string> {
    const result = await vm.exec(command);
    if (result.code !== 0) throw new Error(`${command}: ${result.stderr}`);
    return result.stdout;
  }
  const mountsAt = async (prefix: string) => parseProcMounts(await guest('cat /proc/mounts')).filter((m) => m.where.startsWith(prefix));

  beforeAll(async () => {
    HOST = await createShareDir('vm-mounts');
    entries = compilePolicy(policy()).entries;
    const shares = sharesOf(entries);
    makeShareFolders(shares);
    // docker: false masks dockerd and AppArmor at boot (a large part of a TCG boot; the mounts need neither).
    vm = await startLabVm({ namePrefix: 'mounts', docker: false, shares });
    const bootMs = await vm.waitForSsh();
    console.log(`vm-mounts: ${vm.name} up in ${Math.round(bootMs / 1000)} s`);
    run = async (command: ShellCommand) => ({ ...(await vm.exec(command.text)), signal: null, durationMs: 0 }) as ExecResult;
    ({ services } = await startServices(loadEnv({ BOXYARD_DATA_DIR: dataDir, BOXYARD_ADMIN_PASSWORD: 'vm-mounts-test-password' }), { pollStatus: false, runJobs: false }));
    const user = await services.db.user.findFirstOrThrow({ where: { role: 'admin' } });
    admin = { id: user.id, email: user.email, name: user.name, role: 'admin' };
    boxId = (await createBox(services.db, services.secrets, admin, { name: 'mounts-vm', host: vm.host, port: vm.sshPort, sshUser: 'root', tags: [], notes: '', memberIds: [], auth: { method: 'private-key', privateKey: vm.privateKey } })).id;
    await savePolicy(services.db, admin, boxId, policy());
  }, LAB_VM_BOOT_TIMEOUT_MS + 360_000); // boot, plus building the guest image once per machine (~90-170 s)

  afterAll(async () => {
    await vm?.remove();
    if (services) await stopServices(services);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(HOST, { recursive: true, force: true });
  });

  it('applies every mode as systemd mount units, and the per-subdirectory modes really differ in /proc/mounts', async () => {
    writeFileSync(hostFile('tree/build/seed.o'), 'seed\n');
    writeFileSync(hostFile('9p-delegated/seed.txt'), 'seed\n');
    writeFileSync(hostFile('vfs-delegated/seed.txt'), 'seed\n');
    const facts = parseGuestFacts(await guest(probeGuestCommand.text));
    expect(facts).toMatchObject({ root: true, systemd: true, rsync: true });
    await applyOnGuest(run, facts, entries, async () => undefined);
    const tree = await mountsAt('/srv/m/tree');
    const byPath = Object.fromEntries(tree.map((m) => [m.where, m]));
    expect(byPath['/srv/m/tree'].type).toBe('9p');
    expect(byPath['/srv/m/tree'].options).toContain('loose'); // Linux 6.1 prints cache=loose as a bare word
    expect(byPath['/srv/m/tree/vendor'].type).toBe('9p');
    expect(byPath['/srv/m/tree/vendor'].options).not.toContain('loose'); // cache=none is not printed
    expect(byPath['/srv/m/tree/build'].type).toBe('ext4'); // the replica on the box's own disk, bind-mounted
    expect((await mountsAt('/srv/m/vfs-cached'))[0].type).toBe('virtiofs');
    // Each virtiofs share has its own virtiofsd (started by libvirt) with the compiled cache policy.
    const daemons = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((line) => line.startsWith('/usr/lib/qemu/virtiofsd '));
    const daemonOf = (name: string) => daemons.find((line) => line.includes(`source=${hostFile(name)},`));
    expect(daemonOf('vfs-cached')).toMatch(/cache=always/);
    expect(daemonOf('vfs-consistent')).toMatch(/cache=none/);
    expect(daemonOf('vfs-delegated')).toMatch(/cache=none/); // the share under a replica is mounted consistent
    expect(await guest("systemctl is-active 'srv-m-9p\\x2dconsistent.mount'")).toBe('active\n');
    expect(await guest('cat /srv/m/tree/build/seed.o')).toBe('seed\n');
  }, 600_000);

  it.each(['9p-consistent', 'vfs-consistent'])('%s: a host write is visible in the box at once, a box write on the host at once', async (name) => {
    writeFileSync(hostFile(`${name}/a.txt`), 'v1\n');
    expect(await guest(`cat /srv/m/${name}/a.txt`)).toBe('v1\n');
    writeFileSync(hostFile(`${name}/a.txt`), 'v2\n');
    expect(await guest(`cat /srv/m/${name}/a.txt`)).toBe('v2\n');
    await guest(`echo from-box > /srv/m/${name}/b.txt`);
    expect(readFileSync(hostFile(`${name}/b.txt`), 'utf8')).toBe('from-box\n');
  }, 120_000);

  it.each(['9p-cached', 'vfs-cached'])('%s: box writes reach the host at once (cached rule 3)', async (name) => {
    await guest(`echo cached-write > /srv/m/${name}/w.txt`);
    expect(readFileSync(hostFile(`${name}/w.txt`), 'utf8')).toBe('cached-write\n');
    await guest(`mkdir /srv/m/${name}/dir && mv /srv/m/${name}/w.txt /srv/m/${name}/dir/`);
    expect(existsSync(hostFile(`${name}/dir/w.txt`))).toBe(true);
  }, 120_000);

  it.each(['9p-delegated', 'vfs-delegated'])('%s: box writes stay in the box until a sync, then reach the host (rules 2 and 6)', async (name) => {
    expect(await guest(`cat /srv/m/${name}/seed.txt`)).toBe('seed\n');
    await guest(`echo delegated > /srv/m/${name}/d.txt && rm /srv/m/${name}/seed.txt`);
    expect(existsSync(hostFile(`${name}/d.txt`))).toBe(false);
    await guest(SYNC_TOOL);
    expect(readFileSync(hostFile(`${name}/d.txt`), 'utf8')).toBe('delegated\n');
    expect(existsSync(hostFile(`${name}/seed.txt`))).toBe(false);
  }, 120_000);

  it('a Boxyard stop writes back every delegated mount first (rule 4), through the dashboard\'s SSH pool', async () => {
    const rows = await services.db.mount.findMany({ where: { boxId } });
    for (const row of rows) {
      const own = entries.filter((e) => e.guestPath === row.guestPath || e.guestPath.startsWith(`${row.guestPath}/`));
      await services.db.mount.update({ where: { id: row.id }, data: { status: 'applied', appliedConfig: JSON.stringify(own) } });
    }
    await guest('echo at-stop > /srv/m/vfs-delegated/stop.txt && echo artefact > /srv/m/tree/build/out.o && echo at-stop > /srv/m/9p-delegated/stop.txt');
    expect(existsSync(hostFile('tree/build/out.o'))).toBe(false);
    const result = await writeBackDelegatedMounts(services, admin, boxId);
    expect(result.written.sort()).toEqual(['/srv/m/9p-delegated', '/srv/m/tree/build', '/srv/m/vfs-delegated']);
    expect(readFileSync(hostFile('tree/build/out.o'), 'utf8')).toBe('artefact\n');
    expect(readFileSync(hostFile('vfs-delegated/stop.txt'), 'utf8')).toBe('at-stop\n');
    expect(readFileSync(hostFile('9p-delegated/stop.txt'), 'utf8')).toBe('at-stop\n');
  }, 300_000);

  it('a failed write-back fails the stop loudly and keeps the data on the box', async () => {
    const build = entries.find((e) => e.guestPath === '/srv/m/tree/build')!;
    await guest(`echo unsaved > /srv/m/tree/build/unsaved.o && umount ${build.units[0].where}`);
    const error = await writeBackDelegatedMounts(services, admin, boxId).catch((caught: unknown) => caught);
    expect((error as Error).message).toContain(`the box's changes are kept in ${build.replica!.replicaDir}`);
    expect((error as Error).message).toMatch(/^The write-back of delegated mounts failed, so the box was not stopped/);
    expect(await guest(`cat ${build.replica!.replicaDir}/unsaved.o`)).toBe('unsaved\n');
    expect(existsSync(hostFile('tree/build/unsaved.o'))).toBe(false);
    await guest(`systemctl start '${build.units[0].unitName}'`);
  }, 300_000);

  it('a mount that fails to come up rolls back and keeps the old ones working', async () => {
    const broken = compilePolicy([...policy().slice(0, 6), spec('tree', '9p', 'consistent', [{ subPath: 'missing', mode: 'cached' }])]).entries.map((e) =>
      e.guestPath === '/srv/m/tree/missing' ? { ...e, units: e.units.map((u) => ({ ...u, what: 'no-such-tag', text: u.text.replace(/^What=.*$/m, 'What=no-such-tag') })) } : e,
    );
    const facts = parseGuestFacts(await guest(probeGuestCommand.text));
    const error = await applyOnGuest(run, facts, broken, async () => undefined).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StepFailed);
    expect((error as Error).message).toMatch(/a mount failed to come up[\s\S]*The previous mounts were put back and work: .*\/srv\/m\/tree \(cached on 9p\)/);
    const tree = await mountsAt('/srv/m/tree');
    expect(tree.find((m) => m.where === '/srv/m/tree')!.options).toContain('loose');
    writeFileSync(hostFile('9p-consistent/after.txt'), 'after-rollback\n');
    expect(await guest('cat /srv/m/9p-consistent/after.txt')).toBe('after-rollback\n');
  }, 600_000);
});

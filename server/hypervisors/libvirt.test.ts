import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../ssh/pool';
import type { HostExec } from './driver';
import {
  DOMAIN_NOT_FOUND_STDERR,
  DOMIFADDR,
  DOMIFADDR_NOT_RUNNING_STDERR,
  DOMINFO_PAUSED,
  DOMINFO_QUOTED_NAME,
  DOMINFO_RUNNING,
  DOMINFO_SAVED,
  DOMSTATS_GLANCES,
  DOMSTATS_TEST_DRIVER,
  DUMPXML_WITH_SHARES,
  LIST_UUID,
} from '../../testing/fixtures/hypervisors/libvirt';
import {
  findFilesystemXml,
  LibvirtDriver,
  mapLibvirtState,
  parseDomifaddr,
  parseDominfo,
  parseDomstatsCpuSeconds,
  parseVirshCpuTimes,
  sharedFolderXml,
} from './libvirt';
import { fakeClock } from '../../testing/helpers/clock';
import { expectAppError, failed, ok, scriptedExec, type ScriptedStep } from '../../testing/helpers/hypervisors';

const LOCATE: ScriptedStep = { command: `command -v 'virsh'`, result: ok('/usr/bin/virsh\n') };
const ID = '6695eb01-f6a4-8304-79aa-97f2502e193f';
const vm = { id: ID, name: 'test' };

function infoStep(fixture: string): ScriptedStep {
  return { command: `LC_ALL=C virsh dominfo --domain '${ID}'`, result: ok(fixture) };
}

function driverWith(steps: ScriptedStep[], clock = fakeClock()) {
  const exec = scriptedExec(steps);
  return { exec, driver: new LibvirtDriver(exec, { hostName: 'kvm1', clock, stopPollIntervalMs: 2_000 }) };
}

describe('virsh output parsing', () => {
  it('reads dominfo of running, saved, paused and oddly named domains', () => {
    expect(parseDominfo(DOMINFO_RUNNING)).toEqual([{ id: ID, name: 'test', state: 'running', rawState: 'running', cpus: 2, memoryMiB: 8192 }]);
    expect(parseDominfo(DOMINFO_SAVED)[0]).toMatchObject({ state: 'suspended', rawState: 'shut off (saved)' });
    expect(parseDominfo(DOMINFO_PAUSED)[0]).toMatchObject({ state: 'paused', rawState: 'paused' });
    expect(parseDominfo(DOMINFO_QUOTED_NAME)[0]).toMatchObject({ name: `dev box "q'1"`, state: 'stopped', rawState: 'shut off' });
  });

  it('splits the list script’s concatenated dominfo outputs, with or without blank lines between them', () => {
    const names = (text: string) => parseDominfo(text).map((info) => info.name);
    expect(names(DOMINFO_RUNNING + DOMINFO_QUOTED_NAME)).toEqual(['test', `dev box "q'1"`]);
    expect(names(DOMINFO_RUNNING.trimEnd() + '\n' + DOMINFO_QUOTED_NAME)).toEqual(['test', `dev box "q'1"`]);
    expect(parseDominfo(DOMAIN_NOT_FOUND_STDERR)).toEqual([]);
  });

  // Every word virsh prints (virshDomainState in libvirt's tools/virsh-domain-monitor.c).
  it.each([
    ['no state', false, 'unknown'],
    ['running', false, 'running'],
    ['idle', false, 'running'],
    ['paused', false, 'paused'],
    ['in shutdown', false, 'stopping'],
    ['shut off', false, 'stopped'],
    ['shut off', true, 'suspended'],
    ['crashed', false, 'unknown'],
    ['pmsuspended', false, 'suspended'],
  ])('state %s (managed save: %s) → %s', (raw, managedSave, state) => {
    expect(mapLibvirtState(raw, managedSave)).toBe(state);
  });

  it('reads domifaddr', () => {
    expect(parseDomifaddr(DOMIFADDR)).toEqual(['192.168.122.3/24']);
    expect(parseDomifaddr(' Name       MAC address          Protocol     Address\n-------\n')).toEqual([]);
  });

  it('reads cpu.time from domstats', () => {
    expect(parseDomstatsCpuSeconds(DOMSTATS_GLANCES)).toBeCloseTo(1702.145606, 6);
    expect(parseDomstatsCpuSeconds(DOMSTATS_TEST_DRIVER)).toBeNull();
    // libvirt 9.0 (seen on this lab's libvirtd) prints a cpu.time for a shut-off (here managed-saved) domain.
    const savedDomain = "Domain: 'lab-x'\n  state.state=5\n  state.reason=5\n  cpu.time=6440000000\n  cpu.user=4420000000\n  cpu.system=2020000000\n";
    expect(parseDomstatsCpuSeconds(savedDomain)).toBeNull();
    expect(parseDomstatsCpuSeconds(savedDomain.replace('state.state=5', 'state.state=3'))).toBeCloseTo(6.44, 6);
  });

  it('writes share XML the way libvirt itself escapes it', () => {
    const ours = sharedFolderXml({ name: `proj'"1`, hostPath: `/srv/it's & <mine>`, readOnly: true });
    const libvirts = findFilesystemXml(DUMPXML_WITH_SHARES, `proj'"1`);
    const squash = (xml: string | null) => xml?.replace(/\s+/g, ' ').replace(/> </g, '><').trim();
    expect(squash(ours)).toBe(squash(libvirts));
    expect(findFilesystemXml(DUMPXML_WITH_SHARES, 'src')).toContain("<source dir='/home/dev/src'/>");
    expect(findFilesystemXml(DUMPXML_WITH_SHARES, 'nope')).toBeNull();
  });
});

describe('LibvirtDriver', () => {
  it('says plainly when virsh is missing', async () => {
    const { driver } = driverWith([{ command: `command -v 'virsh'`, result: failed(127, '') }]);
    await expectAppError(driver.listVms(), 'REMOTE_COMMAND_FAILED', 'virsh not found on host kvm1: install libvirt-clients');
  });

  it('lists every domain with one script', async () => {
    const { driver } = driverWith([
      LOCATE,
      {
        command: `uuids=$(LC_ALL=C virsh list --all --uuid) || exit; printf '%s\\n' "$uuids" | while read -r u; do [ -z "$u" ] || LC_ALL=C virsh dominfo --domain "$u" || exit; done`,
        result: ok(DOMINFO_RUNNING + DOMINFO_QUOTED_NAME),
      },
    ]);
    expect((await driver.listVms()).map((info) => [info.name, info.state, info.cpus, info.memoryMiB])).toEqual([
      ['test', 'running', 2, 8192],
      [`dev box "q'1"`, 'stopped', 2, 8192],
    ]);
  });

  it('passes the connection URI as one quoted word', async () => {
    const exec = scriptedExec([LOCATE, { command: `LC_ALL=C virsh -c 'qemu+ssh://root@h/system?x=1&y=2' --version`, result: ok('9.0.0\n') }]);
    const driver = new LibvirtDriver(exec, { connectUri: 'qemu+ssh://root@h/system?x=1&y=2' });
    expect(await driver.version()).toBe('libvirt 9.0.0');
  });

  it('starts, pauses, resumes, suspends to disk, restores and reboots with the matching virsh verbs', async () => {
    const { driver, exec } = driverWith([
      LOCATE,
      infoStep(DOMINFO_QUOTED_NAME.replace(/UUID:.*/, `UUID:           ${ID}`)),
      { command: `LC_ALL=C virsh start --domain '${ID}'` },
      infoStep(DOMINFO_RUNNING),
      { command: `LC_ALL=C virsh suspend --domain '${ID}'` },
      infoStep(DOMINFO_PAUSED),
      { command: `LC_ALL=C virsh resume --domain '${ID}'` },
      infoStep(DOMINFO_RUNNING),
      { command: `LC_ALL=C virsh managedsave --domain '${ID}'` },
      infoStep(DOMINFO_SAVED),
      { command: `LC_ALL=C virsh start --domain '${ID}'` },
      infoStep(DOMINFO_RUNNING),
      { command: `LC_ALL=C virsh reboot --domain '${ID}'` },
    ]);
    await driver.start(vm);
    await driver.pause(vm);
    await driver.resume(vm);
    await driver.suspend(vm);
    await driver.resume(vm);
    await driver.restart(vm);
    expect(exec.pending).toEqual([]);
  });

  it('says plainly that a VM with a virtiofs share cannot be suspended to disk', async () => {
    // Verbatim from libvirt 9.0 on this machine: `virsh managedsave` of a running domain with a virtiofs filesystem.
    const stderr =
      "error: Failed to save domain 'lab-vfsprobe' state\nerror: Requested operation is not valid: cannot migrate domain: non-migratable device: 0000:00:02.0/vhost-user-fs\n";
    const { driver } = driverWith([LOCATE, infoStep(DOMINFO_RUNNING), { command: `LC_ALL=C virsh managedsave --domain '${ID}'`, result: failed(1, stderr) }]);
    await expectAppError(
      driver.suspend(vm),
      'CONFLICT',
      'test has a virtiofs shared folder, and libvirt cannot save such a VM to disk: stop it instead, or pause it to keep it in memory.',
    );
  });

  it('refuses to start a running domain and to suspend a shut-off one', async () => {
    const { driver } = driverWith([LOCATE, infoStep(DOMINFO_RUNNING), infoStep(DOMINFO_QUOTED_NAME)]);
    await expectAppError(driver.start(vm), 'CONFLICT', 'test is already running.');
    await expectAppError(driver.suspend(vm), 'CONFLICT', 'test is stopped: only a running VM can be suspended.');
  });

  it('shuts down, then destroys after the timeout', async () => {
    const clock = fakeClock();
    const { driver, exec } = driverWith(
      [
        LOCATE,
        infoStep(DOMINFO_RUNNING),
        { command: `LC_ALL=C virsh shutdown --domain '${ID}'` },
        infoStep(DOMINFO_RUNNING),
        infoStep(DOMINFO_RUNNING),
        { command: `LC_ALL=C virsh destroy --domain '${ID}'` },
      ],
      clock,
    );
    expect(await driver.stop(vm, { timeoutMs: 1_500 })).toEqual({ outcome: 'forced' });
    expect(clock.slept).toEqual([1_500]);
    expect(exec.pending).toEqual([]);
  });

  it('reports a graceful shutdown', async () => {
    const { driver } = driverWith([
      LOCATE,
      infoStep(DOMINFO_RUNNING),
      { command: `LC_ALL=C virsh shutdown --domain '${ID}'` },
      infoStep(DOMINFO_RUNNING.replace('running', 'in shutdown')),
      infoStep(DOMINFO_QUOTED_NAME),
    ]);
    expect(await driver.stop(vm, { timeoutMs: 60_000 })).toEqual({ outcome: 'graceful' });
  });

  it('changes vCPUs and memory in the persistent config, maximum first, only when shut off', async () => {
    const off = DOMINFO_QUOTED_NAME;
    const { driver, exec } = driverWith([
      LOCATE,
      infoStep(DOMINFO_RUNNING),
      infoStep(off),
      { command: `LC_ALL=C virsh setvcpus --domain '${ID}' --count '4' --config --maximum` },
      { command: `LC_ALL=C virsh setvcpus --domain '${ID}' --count '4' --config` },
      { command: `LC_ALL=C virsh setmaxmem --domain '${ID}' --size '4194304' --config` },
      { command: `LC_ALL=C virsh setmem --domain '${ID}' --size '4194304' --config` },
    ]);
    await expectAppError(driver.setResources(vm, { memoryMiB: 4096 }), 'CONFLICT', 'test is running: stop it before changing its CPUs or memory.');
    await driver.setResources(vm, { cpus: 4, memoryMiB: 4096 });
    expect(exec.pending).toEqual([]);
  });

  it('attaches and detaches virtiofs shares through stdin', async () => {
    const { driver, exec } = driverWith([
      LOCATE,
      { command: `cat | LC_ALL=C virsh attach-device --domain '${ID}' --file /dev/stdin --config` },
      { command: `LC_ALL=C virsh dumpxml --domain '${ID}' --inactive`, result: ok(DUMPXML_WITH_SHARES) },
      { command: `cat | LC_ALL=C virsh detach-device --domain '${ID}' --file /dev/stdin --config` },
      { command: `LC_ALL=C virsh dumpxml --domain '${ID}' --inactive`, result: ok(DUMPXML_WITH_SHARES) },
    ]);
    await driver.addSharedFolder(vm, { name: 'src', hostPath: '/home/dev/src', readOnly: false });
    expect(exec.calls[1]?.options?.stdin).toBe(
      "<filesystem type='mount' accessmode='passthrough'>\n  <driver type='virtiofs'/>\n  <source dir='/home/dev/src'/>\n  <target dir='src'/>\n</filesystem>\n",
    );
    await driver.removeSharedFolder(vm, 'src');
    expect(exec.calls[3]?.options?.stdin).toContain("<target dir='src'/>");
    expect(exec.calls[3]?.options?.stdin).not.toContain('proj');
    await expectAppError(driver.removeSharedFolder(vm, 'nope'), 'NOT_FOUND', 'test has no shared folder named nope.');
  });

  it('lists a domain’s shares, attaches a compiled device as given and says when virtiofs lacks shared memory', async () => {
    const { driver, exec } = driverWith([
      LOCATE,
      { command: `LC_ALL=C virsh dumpxml --domain '${ID}'`, result: ok(DUMPXML_WITH_SHARES) },
      { command: `LC_ALL=C virsh dumpxml --domain '${ID}' --inactive`, result: ok('<domain></domain>') },
      { command: `cat | LC_ALL=C virsh attach-device --domain '${ID}' --file /dev/stdin --config` },
      { command: `LC_ALL=C virsh dumpxml --domain '${ID}' --inactive`, result: ok(DUMPXML_WITH_SHARES) },
      { command: `LC_ALL=C virsh dumpxml --domain '${ID}' --inactive`, result: ok('<domain></domain>') },
    ]);
    expect(await driver.sharedFolderNames(vm, 'live')).toEqual([`proj'"1`, 'src']);
    expect(await driver.sharedFolderNames(vm, 'persistent')).toEqual([]);
    const device = "<filesystem type='mount' accessmode='mapped'>\n  <source dir='/srv/x'/>\n  <target dir='x'/>\n</filesystem>";
    await driver.addSharedFolder(vm, { name: 'x', hostPath: '/srv/x', readOnly: false, device });
    expect(exec.calls[3]?.options?.stdin).toBe(`${device}\n`);
    expect(await driver.sharedFolderProblem(vm, '9p')).toBeNull();
    expect(await driver.sharedFolderProblem(vm, 'virtiofs')).toBeNull();
    expect(await driver.sharedFolderProblem(vm, 'virtiofs')).toMatch(/^virtiofs needs shared memory backing in test's domain/);
    expect(exec.pending).toEqual([]);
  });

  it('reads every running domain’s host CPU time with one command, a domain without one as null', async () => {
    const { driver, exec } = driverWith([
      {
        command: 'LC_ALL=C virsh list --uuid --name; LC_ALL=C virsh domstats --cpu-total --list-active',
        result: ok(`${ID} test\na1b2c3d4-0000-4000-8000-000000000001 lab-vm-1\n\nDomain: 'lab-vm-1'\n  cpu.time=12500000000\n`),
      },
    ]);
    const seconds = await driver.hostCpuSecondsOfMany([vm, { id: 'a1b2c3d4-0000-4000-8000-000000000001', name: 'lab-vm-1' }]);
    expect([...seconds]).toEqual([
      [ID, null],
      ['a1b2c3d4-0000-4000-8000-000000000001', 12.5],
    ]);
    expect(exec.calls).toHaveLength(1);
  });

  it('falls back from DHCP leases to ARP to the guest agent for the address', async () => {
    const { driver } = driverWith([
      LOCATE,
      infoStep(DOMINFO_RUNNING),
      { command: `LC_ALL=C virsh domifaddr --domain '${ID}' --source 'lease'`, result: ok(' Name       MAC address          Protocol     Address\n---\n\n') },
      { command: `LC_ALL=C virsh domifaddr --domain '${ID}' --source 'arp'`, result: failed(1, 'error: no ARP entry\n') },
      { command: `LC_ALL=C virsh domifaddr --domain '${ID}' --source 'agent'`, result: ok(DOMIFADDR) },
      infoStep(DOMINFO_SAVED),
    ]);
    expect(await driver.guestIp(vm)).toBe('192.168.122.3');
    expect(await driver.guestIp(vm)).toBeNull();
  });

  it('reads the domain’s host CPU time', async () => {
    const { driver } = driverWith([LOCATE, { command: `LC_ALL=C virsh domstats --state --cpu-total -- '${ID}'`, result: ok(DOMSTATS_GLANCES) }]);
    expect(await driver.hostCpuSeconds(vm)).toBeCloseTo(1702.145606, 6);
  });

  it('turns virsh’s "failed to get domain" into NOT_FOUND and quotes other failures', async () => {
    const { driver } = driverWith([
      LOCATE,
      { command: `LC_ALL=C virsh dominfo --domain '${ID}'`, result: failed(1, DOMAIN_NOT_FOUND_STDERR) },
      infoStep(DOMINFO_RUNNING),
      { command: `LC_ALL=C virsh reboot --domain '${ID}'`, result: failed(1, DOMIFADDR_NOT_RUNNING_STDERR) },
    ]);
    await expectAppError(driver.start(vm), 'NOT_FOUND', 'test is not a VM on host kvm1 (any more).');
    await expectAppError(driver.restart(vm), 'REMOTE_COMMAND_FAILED', 'Restarting test failed on host kvm1: Requested operation is not valid: domain is not running');
  });

  it('lists again when a domain vanishes between `list` and its `dominfo`', async () => {
    const list = `uuids=$(LC_ALL=C virsh list --all --uuid) || exit; printf '%s\\n' "$uuids" | while read -r u; do [ -z "$u" ] || LC_ALL=C virsh dominfo --domain "$u" || exit; done`;
    const vanished = failed(1, "error: failed to get domain '5aab029e-b262-4c64-984a-005941e1dbdd'\n", DOMINFO_RUNNING);
    const { driver } = driverWith([LOCATE, { command: list, result: vanished }, { command: list, result: ok(DOMINFO_RUNNING) }]);
    expect((await driver.listVms()).map((info) => info.name)).toEqual(['test']);
    const { driver: unlucky } = driverWith([LOCATE, ...[1, 2, 3].map(() => ({ command: list, result: vanished }))]);
    await expectAppError(unlucky.listVms(), 'REMOTE_COMMAND_FAILED', "Listing the VMs failed on host kvm1: failed to get domain '5aab029e-b262-4c64-984a-005941e1dbdd'");
  });

  it('clones with virt-clone by the original’s name, and says when virt-clone is missing', async () => {
    const cloned = DOMINFO_QUOTED_NAME.replace(`dev box "q'1"`, 'web 2');
    const free: ScriptedStep = { command: `LC_ALL=C virsh domuuid --domain 'web 2'`, result: failed(1, "error: failed to get domain 'web 2'\n") };
    const { driver, exec } = driverWith([
      LOCATE,
      free,
      { command: `command -v 'virt-clone'`, result: failed(1, '') },
      free,
      { command: `command -v 'virt-clone'`, result: ok('/usr/bin/virt-clone\n') },
      { command: `virt-clone --original 'dev box "q'\\''1"' --name 'web 2' --auto-clone` },
      { command: `LC_ALL=C virsh dominfo --domain 'web 2'`, result: ok(cloned) },
    ]);
    const original = { id: 'x', name: `dev box "q'1"` };
    await expectAppError(driver.clone(original, 'web 2'), 'REMOTE_COMMAND_FAILED', 'virt-clone not found on host kvm1: install virtinst');
    expect(await driver.clone(original, 'web 2')).toMatchObject({ name: 'web 2', state: 'stopped' });
    expect(exec.pending).toEqual([]);
  });

  it('clones again while libvirt refuses because another volume is being built in the pool, and fails at once on anything else', async () => {
    // virt-clone's words in CI, where another test's clone was copying into the same pool.
    const poolBusy = failed(
      1,
      "ERROR    Could not use path '/var/lib/boxyard-lab/pool/web-2.qcow2' for cloning: Cannot use storage /var/lib/boxyard-lab/pool/web-2.qcow2: internal error: pool 'boxyard-lab' has asynchronous jobs running.\n",
    );
    const free: ScriptedStep = { command: `LC_ALL=C virsh domuuid --domain 'web-2'`, result: failed(1, "error: failed to get domain 'web-2'\n") };
    const cloneStep = (result: Partial<ExecResult>): ScriptedStep => ({ command: `virt-clone --original 'base' --name 'web-2' --auto-clone`, result });
    const clock = fakeClock();
    const { driver, exec } = driverWith([
      LOCATE,
      free,
      { command: `command -v 'virt-clone'`, result: ok('/usr/bin/virt-clone\n') },
      cloneStep(poolBusy),
      cloneStep(poolBusy),
      cloneStep(ok('')),
      { command: `LC_ALL=C virsh dominfo --domain 'web-2'`, result: ok(DOMINFO_QUOTED_NAME.replace(`dev box "q'1"`, 'web-2')) },
      free,
      cloneStep(failed(1, "ERROR    Couldn't create storage volume 'web-2.qcow2': 'internal error: storage volume name 'web-2.qcow2' already in use.'\n")),
    ], clock);
    expect(await driver.clone({ id: 'x', name: 'base' }, 'web-2')).toMatchObject({ name: 'web-2', state: 'stopped' });
    expect(clock.slept).toEqual([2_000, 2_000]);
    await expectAppError(
      driver.clone({ id: 'x', name: 'base' }, 'web-2'),
      'REMOTE_COMMAND_FAILED',
      "Cloning base failed on host kvm1: ERROR    Couldn't create storage volume 'web-2.qcow2': 'internal error: storage volume name 'web-2.qcow2' already in use.'",
    );
    expect(clock.slept).toEqual([2_000, 2_000]);
    expect(exec.pending).toEqual([]);
  });

  it('refuses a clone whose name is taken, before virt-clone runs', async () => {
    const { driver, exec } = driverWith([LOCATE, { command: `LC_ALL=C virsh domuuid --domain 'test'`, result: ok(`${ID}\n`) }]);
    await expectAppError(driver.clone({ id: 'x', name: 'base' }, 'test'), 'CONFLICT', 'A VM named test already exists on host kvm1.');
    expect(exec.pending).toEqual([]);
  });
});

// The driver against real virsh and libvirt's built-in test driver (test:///default, no daemon), run through a
// local shell. The test driver keeps no state between virsh runs, so only reads are checked. Needs Debian's
// libvirt-clients (scripts/test-deps.sh installs it); without it these tests fail rather than skip.

const localShell: HostExec = (command, options) =>
  new Promise<ExecResult>((resolve, reject) => {
    const started = Date.now();
    const child = spawn('sh', ['-c', command.text], { stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    // A command that exits without reading its stdin closes the pipe under our write; that is not a failure.
    child.stdin.on('error', () => {});
    child.on('close', (code, signal) => resolve({ stdout, stderr, code, signal, durationMs: Date.now() - started }));
    child.stdin.end(options?.stdin ?? '');
  });

describe('LibvirtDriver with real virsh and the test:///default driver', () => {
  it('has virsh on this machine (install libvirt-clients, as scripts/test-deps.sh does)', () => {
    expect(spawnSync('sh', ['-c', 'command -v virsh']).status).toBe(0);
  });

  const driver = new LibvirtDriver(localShell, { connectUri: 'test:///default', hostName: 'this machine' });

  it('lists the test domain', async () => {
    expect(await driver.listVms()).toEqual([{ id: ID, name: 'test', state: 'running', rawState: 'running', cpus: 2, memoryMiB: 8192 }]);
    expect(LIST_UUID.trim()).toBe(ID);
  });

  it('reads its address, CPU time and version', async () => {
    expect(await driver.guestIp(vm)).toBe('192.168.122.3');
    expect(await driver.hostCpuSeconds(vm)).toBeNull();
    expect(await driver.version()).toMatch(/^libvirt \d+\.\d+\.\d+$/);
  });

  it('sends share XML that virsh reads (the test driver then says it cannot attach devices)', async () => {
    await expectAppError(
      driver.addSharedFolder(vm, { name: `proj'"1`, hostPath: `/srv/it's & <mine>`, readOnly: true }),
      'REMOTE_COMMAND_FAILED',
      'Sharing /srv/it\'s & <mine> with test failed on host this machine: this function is not supported by the connection driver: virDomainAttachDeviceFlags',
    );
  });

  it('reports an unknown domain as not found', async () => {
    await expectAppError(driver.start({ id: '00000000-0000-0000-0000-000000000000', name: 'ghost' }), 'NOT_FOUND', 'ghost is not a VM on host this machine (any more).');
  });
});

describe('virsh host CPU output', () => {
  it('maps domstats blocks to names and uuids', () => {
    const text = [
      '6695eb01-f6a4-8304-79aa-97f2502e193f test',
      'a1b2c3d4-0000-4000-8000-000000000001 lab-vm-1',
      '',
      "Domain: 'test'",
      '',
      "Domain: 'lab-vm-1'",
      '  cpu.time=12500000000',
      '  cpu.user=10000000000',
      '',
    ].join('\n');
    const times = parseVirshCpuTimes(text);
    expect(times.get('lab-vm-1')).toBe(12.5);
    expect(times.get('a1b2c3d4-0000-4000-8000-000000000001')).toBe(12.5);
    expect(times.has('test')).toBe(false); // libvirt's test driver reports no cpu.time
  });
});

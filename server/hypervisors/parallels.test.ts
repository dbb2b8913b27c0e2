import { describe, expect, it } from 'vitest';
import { AppError, isAppError } from '../errors';
import {
  PRLCTL_INFO_MY_VM,
  PRLCTL_INFO_VIRTUOZZO,
  PRLCTL_LIST_ALL_MPD,
  PRLCTL_LIST_FULL_ALL,
  PRLCTL_ONE_FULL_MPD,
  PRLCTL_ONE_LINK_LOCAL_ONLY,
  PRLCTL_TEMPLATES_VAGRANT_STUB,
} from '../../testing/fixtures/hypervisors/parallels';
import {
  findVmProcessCpuSeconds,
  mapParallelsState,
  parseParallelsMemory,
  parsePrlctlInfo,
  parsePrlctlList,
  ParallelsDriver,
} from './parallels';
import { fakeClock } from '../../testing/helpers/clock';
import { expectAppError, failed, ok, scriptedExec, SSH_TIMEOUT_ERROR, type ScriptedStep } from '../../testing/helpers/hypervisors';

const LOCATE: ScriptedStep = { command: `command -v 'prlctl'`, result: ok('/usr/local/bin/prlctl\n') };
const vm = { id: 'bb586bcf-703d-47f9-b902-b60d54504c2a', name: 'mpd-130' };

/** `prlctl list <id> --full --json` answering with the mpd-130 fixture, its status replaced. */
function statusStep(status: string): ScriptedStep {
  return { command: `prlctl list '${vm.id}' --full --json`, result: ok(PRLCTL_ONE_FULL_MPD.replace('"running"', JSON.stringify(status))) };
}

function driverWith(steps: ScriptedStep[], clock = fakeClock()) {
  const exec = scriptedExec(steps);
  return { exec, driver: new ParallelsDriver(exec, { hostName: 'mini', clock, stopPollIntervalMs: 2_000 }) };
}

describe('prlctl output parsing', () => {
  it('reads `prlctl list --json --full --all`: "-" is no address, a mapped IPv6 with a trailing dot is IPv4', () => {
    expect(parsePrlctlList(PRLCTL_LIST_FULL_ALL)).toEqual([
      { id: '8D66F605-E28D-412B-B3C9-028C316072C9', name: 'running-vm-with-ip', rawState: 'running', state: 'running', ip: '10.211.55.66' },
      { id: '62A86E87-B620-4E1C-95F9-8601EB51A881', name: 'running-vm-with-ipv6', rawState: 'running', state: 'running', ip: '10.211.55.66' },
      { id: '0C7954C9-7CA4-4E5A-A84D-5927F4D2D710', name: 'running-vm-without-ip', rawState: 'running', state: 'running', ip: null },
      { id: '83193991-61FE-4FF7-93A9-6B51D9531F67', name: 'stopped-vm', rawState: 'stopped', state: 'stopped', ip: null },
    ]);
  });

  it('never offers a link-local address', () => {
    expect(parsePrlctlList(PRLCTL_ONE_LINK_LOCAL_ONLY)[0]?.ip).toBeNull();
  });

  it('reads a multi-VM `prlctl list -a --json` with suspended VMs', () => {
    expect(parsePrlctlList(PRLCTL_LIST_ALL_MPD).map((vm) => [vm.name, vm.state])).toEqual([
      ['macOS', 'running'],
      ['mpd-130', 'suspended'],
      ['mpd-130-copy', 'stopped'],
      ['mpd-160', 'running'],
      ['vscode', 'suspended'],
    ]);
  });

  it('reads `prlctl list --info --json`: cpus, "16384Mb" memory, template flag', () => {
    expect(parsePrlctlInfo(PRLCTL_INFO_MY_VM)).toEqual([
      { id: 'bd70007c-83b8-4642-b1d0-fa8ddfa0a4cf', name: 'my-vm', state: 'stopped', rawState: 'stopped', cpus: 10, memoryMiB: 16384, isTemplate: false },
    ]);
    expect(parsePrlctlInfo(PRLCTL_INFO_VIRTUOZZO)).toEqual([
      { id: '56850624-9fd8-441a-b24f-00131f7f79ca', name: 'ts-app-stg-nih-01', state: 'running', rawState: 'running', cpus: 8, memoryMiB: 16384, isTemplate: false },
    ]);
    expect(parsePrlctlInfo(PRLCTL_TEMPLATES_VAGRANT_STUB)).toEqual([
      { id: '1234-some-template-uuid-5678', name: 'Some_Template_Name', state: 'stopped', rawState: 'stopped', cpus: 1, memoryMiB: 512 },
    ]);
  });

  it.each<[string, number | null]>([
    ['16384Mb', 16384],
    ['512Mb', 512],
    ['2Gb', 2048],
    ['4096', 4096],
    ['lots', null],
  ])('memory %j → %j MiB', (size, expected) => {
    expect(parseParallelsMemory(size)).toBe(expected);
  });

  it('refuses output that is not JSON in plain words', () => {
    expect(() => parsePrlctlList('Unknown option: --json')).toThrowError(/did not print JSON/);
  });

  // Every word prlctl's vmstate2str() (OpenVZ/prlctl src/Utils.cpp) can print, and "unknown".
  it.each([
    ['stopped', 'stopped'],
    ['starting', 'starting'],
    ['restoring', 'starting'],
    ['running', 'running'],
    ['paused', 'paused'],
    ['resetting', 'starting'],
    ['pausing', 'stopping'],
    ['suspending', 'stopping'],
    ['stopping', 'stopping'],
    ['compacting', 'unknown'],
    ['suspended', 'suspended'],
    ['snapshoting', 'unknown'],
    ['continuing', 'starting'],
    ['migrating', 'unknown'],
    ['del_snapshot', 'unknown'],
    ['resuming', 'starting'],
    ['syncing', 'stopping'],
    ['invalid', 'unknown'],
    ['reconnecting', 'unknown'],
    ['mounted', 'unknown'],
    ['unknown', 'unknown'],
  ])('state %s → %s', (raw, state) => {
    expect(mapParallelsState(raw)).toBe(state);
  });
});

describe('ParallelsDriver', () => {
  it('says plainly when prlctl is missing, and looks again next time', async () => {
    const { driver, exec } = driverWith([
      { command: `command -v 'prlctl'`, result: failed(1, '') },
      { command: `command -v 'prlctl'`, result: failed(1, '') },
    ]);
    await expectAppError(driver.version(), 'REMOTE_COMMAND_FAILED', 'prlctl not found on host mini: is Parallels Desktop installed?');
    await expectAppError(driver.listVms(), 'REMOTE_COMMAND_FAILED', 'prlctl not found on host mini: is Parallels Desktop installed?');
    expect(exec.pending).toEqual([]);
  });

  it('lists VMs and templates with addresses, looking for prlctl only once', async () => {
    const { driver, exec } = driverWith([
      LOCATE,
      { command: 'prlctl list --all --info --json', result: ok(PRLCTL_INFO_VIRTUOZZO) },
      { command: 'prlctl list --template --info --json', result: ok(PRLCTL_TEMPLATES_VAGRANT_STUB) },
      {
        command: 'prlctl list --all --full --json',
        result: ok(`[{"uuid": "56850624-9FD8-441A-B24F-00131F7F79CA", "status": "running", "ip_configured": "10.166.11.143 10.0.0.100 ", "name": "ts-app-stg-nih-01"}]`),
      },
      { command: `prlctl --version`, result: ok('prlctl version 18.1.1 (53328)\n') },
    ]);
    expect(await driver.listVms()).toEqual([
      { id: '56850624-9fd8-441a-b24f-00131f7f79ca', name: 'ts-app-stg-nih-01', state: 'running', rawState: 'running', cpus: 8, memoryMiB: 16384, isTemplate: false, ip: '10.166.11.143' },
      { id: '1234-some-template-uuid-5678', name: 'Some_Template_Name', state: 'stopped', rawState: 'stopped', cpus: 1, memoryMiB: 512, isTemplate: true },
    ]);
    // The --full line above is written for this test (the JSON shape of PRLCTL_LIST_FULL_ALL with the addresses
    // PRLCTL_INFO_VIRTUOZZO's net0 lists), to show the merge by UUID regardless of case.
    expect(await driver.version()).toBe('prlctl version 18.1.1 (53328)');
    expect(exec.pending).toEqual([]);
  });

  it('starts a stopped VM and refuses a running one', async () => {
    const { driver, exec } = driverWith([LOCATE, statusStep('stopped'), { command: `prlctl start '${vm.id}'` }, statusStep('running')]);
    await driver.start(vm);
    await expectAppError(driver.start(vm), 'CONFLICT', 'mpd-130 is already running.');
    expect(exec.pending).toEqual([]);
  });

  it('stops gracefully when the guest goes down in time', async () => {
    const { driver, exec } = driverWith([
      LOCATE,
      statusStep('running'),
      { command: `prlctl stop '${vm.id}'` },
      statusStep('stopped'),
    ]);
    expect(await driver.stop(vm, { timeoutMs: 60_000 })).toEqual({ outcome: 'graceful' });
    expect(exec.calls[2]?.options?.timeoutMs).toBe(60_000);
  });

  it('kills the VM when the guest is still up at the deadline', async () => {
    const clock = fakeClock();
    const { driver, exec } = driverWith(
      [
        LOCATE,
        statusStep('running'),
        { command: `prlctl stop '${vm.id}'` },
        statusStep('stopping'), // t=0
        statusStep('stopping'), // t=2000
        statusStep('stopping'), // t=4000
        statusStep('stopping'), // t=5000, the deadline
        { command: `prlctl stop '${vm.id}' --kill` },
      ],
      clock,
    );
    expect(await driver.stop(vm, { timeoutMs: 5_000 })).toEqual({ outcome: 'forced' });
    expect(clock.slept).toEqual([2_000, 2_000, 1_000]);
    expect(exec.pending).toEqual([]);
  });

  it('kills the VM at once when the polite stop outlives its timeout', async () => {
    const { driver, exec } = driverWith([
      LOCATE,
      statusStep('running'),
      { command: `prlctl stop '${vm.id}'`, result: SSH_TIMEOUT_ERROR },
      { command: `prlctl stop '${vm.id}' --kill` },
    ]);
    expect(await driver.stop(vm, { timeoutMs: 5_000 })).toEqual({ outcome: 'forced' });
    expect(exec.pending).toEqual([]);
  });

  it('suspends, pauses, resumes and restarts with the matching prlctl verbs', async () => {
    const { driver, exec } = driverWith([
      LOCATE,
      statusStep('running'),
      { command: `prlctl suspend '${vm.id}'` },
      statusStep('running'),
      { command: `prlctl pause '${vm.id}'` },
      statusStep('suspended'),
      { command: `prlctl resume '${vm.id}'` },
      statusStep('running'),
      { command: `prlctl restart '${vm.id}'` },
    ]);
    await driver.suspend(vm);
    await driver.pause(vm);
    await driver.resume(vm);
    await driver.restart(vm);
    expect(exec.pending).toEqual([]);
  });

  it('refuses to suspend a stopped VM', async () => {
    const { driver } = driverWith([LOCATE, statusStep('stopped')]);
    await expectAppError(driver.suspend(vm), 'CONFLICT', 'mpd-130 is stopped: only a running VM can be suspended.');
  });

  it('changes CPUs and memory only on a stopped VM', async () => {
    const { driver, exec } = driverWith([
      LOCATE,
      statusStep('running'),
      statusStep('stopped'),
      { command: `prlctl set '${vm.id}' --cpus '4' --memsize '8192'` },
      statusStep('stopped'),
      { command: `prlctl set '${vm.id}' --memsize '2048'` },
    ]);
    await expectAppError(driver.setResources(vm, { cpus: 4 }), 'CONFLICT', 'mpd-130 is running: stop it before changing its CPUs or memory.');
    await driver.setResources(vm, { cpus: 4, memoryMiB: 8192 });
    await driver.setResources(vm, { memoryMiB: 2048 });
    expect(exec.pending).toEqual([]);
  });

  it('quotes names and paths with spaces and quotes', async () => {
    const odd = { id: '{a b}', name: `dev box "q'1"` };
    const { driver, exec } = driverWith([
      LOCATE,
      { command: `prlctl set '{a b}' --shf-host-add 'it'\\''s "src"' --path '/Users/me/My Projects/$HOME' --mode ro` },
      { command: `prlctl set '{a b}' --shf-host-add 'src' --path '/src'` },
      { command: `prlctl set '{a b}' --shf-host-del 'it'\\''s "src"'` },
    ]);
    await driver.addSharedFolder(odd, { name: `it's "src"`, hostPath: '/Users/me/My Projects/$HOME', readOnly: true });
    await driver.addSharedFolder(odd, { name: 'src', hostPath: '/src', readOnly: false });
    await driver.removeSharedFolder(odd, `it's "src"`);
    expect(exec.pending).toEqual([]);
  });

  it('clones under a free name and returns the new VM as listed', async () => {
    const before = [
      LOCATE,
      { command: 'prlctl list --all --info --json', result: ok(PRLCTL_INFO_MY_VM) },
      { command: 'prlctl list --template --info --json', result: ok('[]') },
      { command: 'prlctl list --all --full --json', result: ok('[]') },
    ];
    const cloned = PRLCTL_INFO_MY_VM.replace('"my-vm"', `"dev box \\"q'1\\""`).replace('bd70007c', 'aaaaaaaa');
    const { driver, exec } = driverWith([
      ...before,
      { command: `prlctl clone 'bd70007c-83b8-4642-b1d0-fa8ddfa0a4cf' --name 'dev box "q'\\''1"'` },
      { command: 'prlctl list --all --info --json', result: ok(`[${PRLCTL_INFO_MY_VM.trim().slice(1, -1)},${cloned.trim().slice(1, -1)}]`) },
      { command: 'prlctl list --template --info --json', result: ok('[]') },
      { command: 'prlctl list --all --full --json', result: ok('[]') },
    ]);
    const clone = await driver.clone({ id: 'bd70007c-83b8-4642-b1d0-fa8ddfa0a4cf', name: 'my-vm' }, `dev box "q'1"`);
    expect(clone).toMatchObject({ id: 'aaaaaaaa-83b8-4642-b1d0-fa8ddfa0a4cf', name: `dev box "q'1"` });
    expect(exec.calls[4]?.options?.timeoutMs).toBe(30 * 60_000);
    expect(exec.pending).toEqual([]);
  });

  it('refuses a clone name that is taken', async () => {
    const { driver } = driverWith([
      LOCATE,
      { command: 'prlctl list --all --info --json', result: ok(PRLCTL_INFO_MY_VM) },
      { command: 'prlctl list --template --info --json', result: ok('[]') },
      { command: 'prlctl list --all --full --json', result: ok('[]') },
    ]);
    await expectAppError(driver.clone({ id: 'x', name: 'base' }, 'my-vm'), 'CONFLICT', 'A VM named my-vm already exists on host mini.');
  });

  it('reads the guest address only of a running VM', async () => {
    const { driver } = driverWith([LOCATE, statusStep('running'), statusStep('suspended')]);
    expect(await driver.guestIp(vm)).toBe('10.211.55.130');
    expect(await driver.guestIp(vm)).toBeNull();
  });

  it('quotes prlctl’s own reason when a command fails', async () => {
    const { driver } = driverWith([LOCATE, statusStep('stopped'), { command: `prlctl start '${vm.id}'`, result: failed(255, 'Failed to start the VM: not enough memory.\n') }]);
    await expectAppError(driver.start(vm), 'REMOTE_COMMAND_FAILED', 'Starting mpd-130 failed on host mini: Failed to start the VM: not enough memory.');
  });

  it('reads the host CPU time of the VM’s prl_vm_app process', async () => {
    // Constructed for this test, not captured: the command column follows the shape public process listings show
    // ("prl_vm_app --vm-name <name> --uuid {<uuid>} ..."), the time column is made up.
    const ps = [
      '  0:01.20 /sbin/launchd',
      '125:03.50 /Applications/Parallels Desktop.app/Contents/MacOS//Parallels VM.app/Contents/MacOS/prl_vm_app --vm-name mpd-130 --uuid {bb586bcf-703d-47f9-b902-b60d54504c2a} --dir-uuid {6c93cd9f-8e88-4769-b638-ec16443e05b4}',
    ].join('\n');
    const { driver } = driverWith([LOCATE, { command: 'ps -axww -o time=,command=', result: ok(ps) }]);
    expect(await driver.hostCpuSeconds({ id: 'BB586BCF-703D-47F9-B902-B60D54504C2A', name: 'mpd-130' })).toBe(7503.5);
    expect(findVmProcessCpuSeconds(ps, 'not-running')).toBeNull();
  });

  it('reports a VM prlctl no longer lists as not found', async () => {
    const { driver } = driverWith([LOCATE, { command: `prlctl list '${vm.id}' --full --json`, result: ok('[]') }]);
    const error = await driver.start(vm).catch((e: unknown) => e);
    expect(isAppError(error, 'NOT_FOUND')).toBe(true);
    expect((error as AppError).message).toBe('mpd-130 is not a VM on host mini (any more).');
  });
});

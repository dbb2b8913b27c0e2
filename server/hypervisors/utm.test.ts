import { describe, expect, it } from 'vitest';
import { UTM_LIST_EVENT_ERROR_ISSUE_5001, UTM_LIST_ISSUE_7094, UTM_SSH_NOTE_STDERR, UTM_STATE_WORDS, UTM_STATUS_STARTED } from '../../testing/fixtures/hypervisors/utm';
import { fakeClock } from '../../testing/helpers/clock';
import { expectAppError, failed, ok, scriptedExec, type ScriptedStep } from '../../testing/helpers/hypervisors';
import { mapUtmState, parseUtmList, UtmDriver } from './utm';

const LOCATE: ScriptedStep = { command: `command -v 'utmctl'`, result: ok('/usr/local/bin/utmctl\n') };
const vm = { id: 'D4C34DE4-2B12-41EF-BFEE-54DF231F09F2', name: 'Windows 11' };

/** The wrapper every utmctl call runs in, around `utmctl <args>` (args as the shell reads them). */
function desktop(args: string): string {
  return (
    `u=$(stat -f %Su /dev/console) && uid=$(stat -f %u /dev/console) || exit 1; ` +
    `case "$u" in root|loginwindow|'') echo 'boxyard-utm: nobody is logged in to the desktop' >&2; exit 1;; esac; ` +
    `if [ "$(id -u)" = "$uid" ]; then launchctl asuser "$uid" '/usr/local/bin/utmctl' ${args}; ` +
    `else sudo -n launchctl asuser "$uid" sudo -n -u "$u" '/usr/local/bin/utmctl' ${args}; fi`
  );
}

function statusStep(word: string): ScriptedStep {
  return { command: desktop(`status '${vm.id}'`), result: ok(`${word}\n`) };
}

function driverWith(steps: ScriptedStep[], clock = fakeClock()) {
  const exec = scriptedExec(steps);
  return { exec, driver: new UtmDriver(exec, { hostName: 'studio', clock, stopPollIntervalMs: 2_000 }) };
}

const GUI_SESSION_MESSAGE =
  "Listing the VMs failed: utmctl does not work from SSH sessions or before logging in, and macOS refused its request on host studio. Log in to the Mac's desktop, allow passwordless sudo for launchctl for Boxyard's SSH user, or run Boxyard's SSH user as the logged-in user (and allow it to control UTM when macOS asks).";

describe('utmctl output parsing', () => {
  it('reads `utmctl list` with names that contain spaces', () => {
    expect(parseUtmList(UTM_LIST_ISSUE_7094)).toEqual([
      { id: '33BC1F90-B811-4A5F-9E9D-0837C715A169', name: 'Fedora 40', rawState: 'stopped', state: 'stopped' },
      { id: 'D4C34DE4-2B12-41EF-BFEE-54DF231F09F2', name: 'Windows 11', rawState: 'stopped', state: 'stopped' },
      { id: '5612BF3C-36AA-448A-9FBB-1EA7EF74F1C7', name: 'Test-dummy Virtual Machine', rawState: 'stopped', state: 'stopped' },
    ]);
  });

  it('keeps a name’s own spacing after a status word that fills its column', () => {
    // "stopping" is exactly the 8-character column; the name starts after one space.
    const line = `${vm.id} stopping  two leading spaces`;
    expect(parseUtmList(line)[0]).toMatchObject({ name: ' two leading spaces', state: 'stopping' });
  });

  it('finds no VMs in the header alone', () => {
    expect(parseUtmList(UTM_LIST_EVENT_ERROR_ISSUE_5001.stdout)).toEqual([]);
  });

  it.each(UTM_STATE_WORDS.map((word) => [word, { started: 'running', starting: 'starting', resuming: 'starting', pausing: 'stopping', stopping: 'stopping', paused: 'paused', stopped: 'stopped', unknown: 'unknown' }[word]]))(
    'state %s → %s',
    (word, state) => {
      expect(mapUtmState(word as string)).toBe(state);
    },
  );
});

describe('UtmDriver', () => {
  it('runs utmctl in the desktop session of the user at the screen', async () => {
    const { driver, exec } = driverWith([LOCATE, { command: desktop('list'), result: ok(UTM_LIST_ISSUE_7094) }]);
    expect(await driver.listVms()).toHaveLength(3);
    expect(exec.calls[1]?.command).toBe(
      `u=$(stat -f %Su /dev/console) && uid=$(stat -f %u /dev/console) || exit 1; case "$u" in root|loginwindow|'') echo 'boxyard-utm: nobody is logged in to the desktop' >&2; exit 1;; esac; if [ "$(id -u)" = "$uid" ]; then launchctl asuser "$uid" '/usr/local/bin/utmctl' list; else sudo -n launchctl asuser "$uid" sudo -n -u "$u" '/usr/local/bin/utmctl' list; fi`,
    );
  });

  it('says plainly when utmctl is missing', async () => {
    const { driver } = driverWith([{ command: `command -v 'utmctl'`, result: failed(1, '') }]);
    await expectAppError(driver.listVms(), 'REMOTE_COMMAND_FAILED', 'utmctl not found on host studio: is UTM installed (and its command-line tool in PATH)?');
  });

  it('explains the desktop-session requirement when macOS refuses the Apple Event, even on exit 0', async () => {
    const { driver } = driverWith([
      LOCATE,
      { command: desktop('list'), result: { ...UTM_LIST_EVENT_ERROR_ISSUE_5001, code: 0 } },
      { command: desktop('list'), result: { stdout: UTM_LIST_EVENT_ERROR_ISSUE_5001.stdout, stderr: UTM_SSH_NOTE_STDERR, code: 0 } },
    ]);
    await expectAppError(driver.listVms(), 'REMOTE_COMMAND_FAILED', GUI_SESSION_MESSAGE);
    await expectAppError(driver.listVms(), 'REMOTE_COMMAND_FAILED', GUI_SESSION_MESSAGE);
  });

  it('says when nobody is logged in to the desktop', async () => {
    const { driver } = driverWith([LOCATE, { command: desktop('list'), result: failed(1, 'boxyard-utm: nobody is logged in to the desktop\n') }]);
    await expectAppError(
      driver.listVms(),
      'REMOTE_COMMAND_FAILED',
      "Listing the VMs failed: nobody is logged in to the desktop of host studio, and utmctl only works inside a desktop session. Log in to the Mac's desktop (or turn on automatic login) and try again.",
    );
  });

  it('says when sudo wants a password for launchctl', async () => {
    const { driver } = driverWith([LOCATE, { command: desktop('list'), result: failed(1, 'sudo: a password is required\n') }]);
    await expectAppError(
      driver.listVms(),
      'REMOTE_COMMAND_FAILED',
      "Listing the VMs failed: utmctl must run in the Mac's desktop session, which needs `sudo launchctl asuser` without a password on host studio. Allow passwordless sudo for launchctl for Boxyard's SSH user, or let Boxyard log in as the user who is logged in to the desktop.",
    );
  });

  it('starts a stopped VM and refuses a started one', async () => {
    const { driver, exec } = driverWith([LOCATE, statusStep('stopped'), { command: desktop(`start '${vm.id}'`) }, { command: desktop(`status '${vm.id}'`), result: ok(UTM_STATUS_STARTED) }]);
    await driver.start(vm);
    await expectAppError(driver.start(vm), 'CONFLICT', 'Windows 11 is already running.');
    expect(exec.pending).toEqual([]);
  });

  it('requests a shutdown, then forces the VM off after the timeout', async () => {
    const clock = fakeClock();
    const { driver, exec } = driverWith(
      [
        LOCATE,
        statusStep('started'),
        { command: desktop(`stop '${vm.id}' --request`) },
        statusStep('started'),
        statusStep('stopping'),
        { command: desktop(`stop '${vm.id}' --force`) },
      ],
      clock,
    );
    expect(await driver.stop(vm, { timeoutMs: 2_000 })).toEqual({ outcome: 'forced' });
    expect(clock.slept).toEqual([2_000]);
    expect(exec.pending).toEqual([]);
  });

  it('reports a graceful stop', async () => {
    const { driver } = driverWith([LOCATE, statusStep('started'), { command: desktop(`stop '${vm.id}' --request`) }, statusStep('stopped')]);
    expect(await driver.stop(vm, { timeoutMs: 60_000 })).toEqual({ outcome: 'graceful' });
  });

  it('suspends with --save-state, pauses without, resumes with start', async () => {
    const { driver, exec } = driverWith([
      LOCATE,
      statusStep('started'),
      { command: desktop(`suspend '${vm.id}' --save-state`) },
      statusStep('started'),
      { command: desktop(`suspend '${vm.id}'`) },
      statusStep('paused'),
      { command: desktop(`start '${vm.id}'`) },
    ]);
    await driver.suspend(vm);
    await driver.pause(vm);
    await driver.resume(vm);
    expect(exec.pending).toEqual([]);
  });

  it('refuses to suspend a stopped VM', async () => {
    const { driver } = driverWith([LOCATE, statusStep('stopped')]);
    await expectAppError(driver.suspend(vm), 'CONFLICT', 'Windows 11 is stopped: only a running VM can be suspended.');
  });

  it('restarts as stop then start', async () => {
    const { driver, exec } = driverWith([
      LOCATE,
      statusStep('started'),
      statusStep('started'),
      { command: desktop(`stop '${vm.id}' --request`) },
      statusStep('stopped'),
      { command: desktop(`start '${vm.id}'`) },
    ]);
    await driver.restart(vm);
    expect(exec.pending).toEqual([]);
  });

  it('clones and finds the clone by its name, quoting it', async () => {
    const newName = `dev box "q'1"`;
    const { driver, exec } = driverWith([
      LOCATE,
      { command: desktop('list'), result: ok(UTM_LIST_ISSUE_7094) },
      { command: desktop(`clone '${vm.id}' --name 'dev box "q'\\''1"'`) },
      { command: desktop('list'), result: ok(`${UTM_LIST_ISSUE_7094}0C7954C9-7CA4-4E5A-A84D-5927F4D2D710 stopped  ${newName}\n`) },
    ]);
    expect(await driver.clone(vm, newName)).toEqual({ id: '0C7954C9-7CA4-4E5A-A84D-5927F4D2D710', name: newName, rawState: 'stopped', state: 'stopped' });
    expect(exec.calls[2]?.options?.timeoutMs).toBe(30 * 60_000);
  });

  it('refuses what utmctl cannot do, in words', async () => {
    const { driver } = driverWith([]);
    await expectAppError(
      driver.setResources(vm, { cpus: 2 }),
      'BAD_INPUT',
      "UTM's command-line tool cannot change a VM's CPUs or memory: change them in UTM's settings on host studio.",
    );
    await expectAppError(driver.addSharedFolder(vm, { name: 'src', hostPath: '/src', readOnly: true }), 'BAD_INPUT', "UTM's command-line tool cannot share folders: add the shared folder in UTM's settings on host studio.");
    expect(await driver.hostCpuSeconds(vm)).toBeNull();
  });

  it('reads the first reachable guest address', async () => {
    const { driver } = driverWith([
      LOCATE,
      statusStep('started'),
      // utmctl ip-address prints one address per line, IPv4 first (its help text); these values are made up.
      { command: desktop(`ip-address '${vm.id}'`), result: ok('192.168.64.5\nfe80::5054:ff:fe12:3456\n') },
      statusStep('stopped'),
    ]);
    expect(await driver.guestIp(vm)).toBe('192.168.64.5');
    expect(await driver.guestIp(vm)).toBeNull();
  });

  it('turns "Virtual machine not found." into NOT_FOUND', async () => {
    const { driver } = driverWith([LOCATE, { command: desktop(`status '${vm.id}'`), result: failed(1, 'Error: Virtual machine not found.\n') }]);
    await expectAppError(driver.start(vm), 'NOT_FOUND', 'Reading the state of Windows 11 failed: UTM on host studio has no such VM (any more).');
  });

  it('reads the version from the app bundle, without the desktop session', async () => {
    const { driver } = driverWith([LOCATE, { command: `defaults read '/Applications/UTM.app/Contents/Info' CFBundleShortVersionString`, result: ok('4.6.4\n') }]);
    expect(await driver.version()).toBe('UTM 4.6.4');
  });
});

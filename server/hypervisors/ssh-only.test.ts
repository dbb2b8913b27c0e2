import { describe, expect, it } from 'vitest';
import { isAppError } from '../errors';
import { createDriver } from './factory';
import { LibvirtDriver } from './libvirt';
import { ParallelsDriver } from './parallels';
import { SshOnlyDriver } from './ssh-only';
import { expectAppError, failed, ok, scriptedExec } from '../../testing/helpers/hypervisors';
import { UtmDriver } from './utm';

const vm = { id: 'x', name: 'x' };
const REFUSAL = 'Boxyard can only reboot or power off host vps1: it is a plain SSH box without a hypervisor.';

describe('SshOnlyDriver', () => {
  it('reboots with systemd, falling back to shutdown', async () => {
    const exec = scriptedExec([{ command: 'sudo -n systemctl reboot || sudo -n shutdown -r now' }, { command: 'sudo -n systemctl poweroff || sudo -n shutdown -h now' }]);
    const driver = new SshOnlyDriver(exec, { hostName: 'vps1' });
    await driver.rebootHost();
    await driver.powerOffHost();
    expect(exec.pending).toEqual([]);
  });

  it('quotes the failure when neither systemctl nor shutdown works', async () => {
    const exec = scriptedExec([{ command: 'sudo -n systemctl poweroff || sudo -n shutdown -h now', result: failed(1, 'sudo: shutdown: command not found\n') }]);
    await expectAppError(new SshOnlyDriver(exec, { hostName: 'vps1' }).powerOffHost(), 'REMOTE_COMMAND_FAILED', 'Powering off failed on host vps1: sudo: shutdown: command not found');
  });

  it('says when sudo wants a password', async () => {
    const exec = scriptedExec([{ command: 'sudo -n systemctl reboot || sudo -n shutdown -r now', result: failed(1, 'sudo: a password is required\nsudo: a password is required\n') }]);
    await expectAppError(
      new SshOnlyDriver(exec, { hostName: 'vps1' }).rebootHost(),
      'REMOTE_COMMAND_FAILED',
      "Rebooting host vps1 needs root: allow Boxyard's SSH user to run systemctl (or shutdown) with sudo without a password.",
    );
  });

  it('has no VMs and refuses every VM operation in words', async () => {
    const driver = new SshOnlyDriver(scriptedExec([]), { hostName: 'vps1' });
    expect(await driver.listVms()).toEqual([]);
    for (const attempt of [
      driver.start(vm),
      driver.stop(vm, { timeoutMs: 1_000 }),
      driver.suspend(vm),
      driver.pause(vm),
      driver.resume(vm),
      driver.restart(vm),
      driver.clone(vm, 'copy'),
      driver.setResources(vm, { cpus: 2 }),
      driver.addSharedFolder(vm, { name: 'src', hostPath: '/src', readOnly: false }),
      driver.removeSharedFolder(vm, 'src'),
      driver.guestIp(vm),
      driver.hostCpuSeconds(vm),
    ]) {
      await expectAppError(attempt, 'BAD_INPUT', REFUSAL);
    }
  });

  it('reports the kernel as its version', async () => {
    const driver = new SshOnlyDriver(scriptedExec([{ command: 'uname -sr', result: ok('Linux 6.1.0-18-amd64\n') }]));
    expect(await driver.version()).toBe('Linux 6.1.0-18-amd64');
  });
});

describe('createDriver', () => {
  it.each([
    ['libvirt', LibvirtDriver],
    ['parallels', ParallelsDriver],
    ['utm', UtmDriver],
    ['ssh', SshOnlyDriver],
  ])('makes the %s driver', (kind, type) => {
    const driver = createDriver(kind, scriptedExec([]));
    expect(driver).toBeInstanceOf(type);
    expect(driver.kind).toBe(kind);
  });

  it('refuses an unknown kind, naming the known ones', () => {
    try {
      createDriver('vmware', scriptedExec([]));
      expect.unreachable();
    } catch (error) {
      expect(isAppError(error, 'BAD_INPUT')).toBe(true);
      expect((error as Error).message).toBe('Unknown hypervisor kind "vmware"; Boxyard knows libvirt, parallels, utm, ssh.');
    }
  });

  it('passes options through (the host name shows in messages)', async () => {
    const driver = createDriver('ssh', scriptedExec([]), { hostName: 'vps1' });
    await expectAppError(driver.start(vm), 'BAD_INPUT', REFUSAL);
  });
});

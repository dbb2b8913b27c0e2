// The drivers through the real SSH layer, against a lab box (real sshd in Docker, see testing/lab/lab.ts). The lab
// boxes have no prlctl, utmctl or virsh: what can be checked there is that a missing tool comes back as one plain
// sentence, and that the shell tricks the drivers rely on hold over a real SSH session.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import { SshPool } from '../ssh/pool';
import { sh, type ShellCommand } from '../ssh/quote';
import { LAB_START_TIMEOUT_MS, labTarget } from '../../testing/helpers/ssh';
import type { HostExec, HypervisorDriver } from './driver';
import { createDriver } from './factory';
import { expectAppError } from '../../testing/helpers/hypervisors';

let box: LabBox;
let pool: SshPool;
let exec: HostExec;

beforeAll(async () => {
  box = await startLabBox({ namePrefix: 'boxyard-hypervisors' });
  pool = new SshPool();
  pool.start();
  exec = (command, options) => pool.exec(box.name, labTarget(box), command, options);
}, LAB_START_TIMEOUT_MS);

afterAll(async () => {
  await pool?.stop();
  await box?.remove();
});

describe('a host without the hypervisor tool', () => {
  it.each([
    ['parallels', 'prlctl not found on host lab box: is Parallels Desktop installed?'],
    ['utm', 'utmctl not found on host lab box: is UTM installed (and its command-line tool in PATH)?'],
    ['libvirt', 'virsh not found on host lab box: install libvirt-clients'],
  ])('%s: says which tool is missing and what to do', async (kind, message) => {
    const driver = createDriver(kind, exec, { hostName: 'lab box' });
    await expectAppError(driver.listVms(), 'REMOTE_COMMAND_FAILED', message);
    await expectAppError(driver.start({ id: `it's "x"`, name: 'x' }), 'REMOTE_COMMAND_FAILED', message);
  });
});

describe('the plain SSH driver on a real box', () => {
  it('reads the kernel version', async () => {
    expect(await createDriver('ssh', exec).version()).toMatch(/^Linux \d/);
  });
});

describe('shell assumptions, over a real SSH session', () => {
  it('hands stdin to a program that opens /dev/stdin through `cat |` (how virsh reads device XML)', async () => {
    const xml = `<filesystem type='mount'>\n  <source dir='/srv/it&apos;s'/>\n</filesystem>\n`;
    const result = await exec(sh`cat | cat /dev/stdin`, { stdin: xml });
    expect(result).toMatchObject({ code: 0, stdout: xml });
  });

  it('parses every multi-command script the drivers send, in sh and bash', async () => {
    const scripts = await Promise.all([
      commandSentBy('libvirt', (driver) => driver.listVms()),
      commandSentBy('libvirt', (driver) => driver.addSharedFolder({ id: 'u', name: 'x' }, { name: 'src', hostPath: '/src', readOnly: true })),
      commandSentBy('utm', (driver) => driver.listVms()),
    ]);
    for (const script of scripts) {
      for (const shell of ['sh', 'bash']) {
        const result = await exec(sh`${shell} -n -c ${script.text}`);
        expect({ shell, script: script.text, ...result }).toMatchObject({ code: 0, stderr: '' });
      }
    }
  });
});

/** The command a driver sends for an operation, recorded locally (the tool is "found", the command not run). */
async function commandSentBy(kind: string, operation: (driver: HypervisorDriver) => Promise<unknown>): Promise<ShellCommand> {
  let sent: ShellCommand | undefined;
  const recorder: HostExec = async (command) => {
    const locating = command.text.startsWith('command -v ');
    if (!locating) sent ??= command;
    return { stdout: locating ? '/usr/bin/tool\n' : '', stderr: '', code: 0, signal: null, durationMs: 0 };
  };
  await operation(createDriver(kind, recorder)).catch(() => undefined);
  if (!sent) throw new Error(`the ${kind} driver sent no command`);
  return sent;
}

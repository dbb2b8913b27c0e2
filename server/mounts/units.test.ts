import { describe, expect, it } from 'vitest';
import { StepFailed, type StepContext } from '../jobs/recipe';
import type { ExecResult } from '../ssh/pool';
import type { ShellCommand } from '../ssh/quote';
import { mountApplyRecipe } from './apply-recipe';
import { compilePolicy } from './compile';
import { entriesMismatch, parseGuestFacts, parseProcMounts, teardownScript, writeBackScript } from './guest';
import { parseMeasured, recommend, workloadScript } from './measure';
import type { MountSpec } from './policy';

const spec = (over: Partial<MountSpec> = {}): MountSpec => ({ hostPath: '/srv/app', guestPath: '/home/dev/app', transport: '9p', mode: 'cached', readOnly: false, overrides: [], ...over });

describe('verification against /proc/mounts', () => {
  const [entry] = compilePolicy([spec()]).entries;
  const tag = entry.key;

  it('accepts the 9p cache mode as Linux 6.1 prints it (seen in the lab VM), and as newer kernels print it (hex flags)', () => {
    expect(entriesMismatch([entry], parseProcMounts(`${tag} /home/dev/app 9p rw,dirsync,relatime,loose,access=client,msize=262144,trans=virtio 0 0\n`))).toEqual([]);
    expect(entriesMismatch([entry], parseProcMounts(`${tag} /home/dev/app 9p rw,relatime,cache=0xf,access=client,msize=262144,trans=virtio 0 0\n`))).toEqual([]);
  });

  it('names what is wrong', () => {
    expect(entriesMismatch([entry], parseProcMounts(`${tag} /home/dev/app 9p rw,relatime,access=client,trans=virtio 0 0\n`))).toEqual(['/home/dev/app is mounted with cache=none, not cache=loose']);
    expect(entriesMismatch([entry], parseProcMounts('/dev/vda1 / ext4 rw 0 0\n'))).toEqual(['/home/dev/app is not mounted']);
    expect(entriesMismatch([entry], parseProcMounts(`tmpfs /home/dev/app tmpfs rw 0 0\n`))).toEqual(['/home/dev/app is mounted as tmpfs, not 9p']);
  });

  it('reads octal escapes and takes the last mount on a path', () => {
    const [spaced] = compilePolicy([spec({ guestPath: '/home/dev/my app', mode: 'consistent' })]).entries;
    const proc = `${spaced.key} /home/dev/my\\040app 9p rw,loose 0 0\n${spaced.key} /home/dev/my\\040app 9p rw 0 0\n`;
    expect(parseProcMounts(proc)[0].where).toBe('/home/dev/my app');
    expect(entriesMismatch([spaced], parseProcMounts(proc))).toEqual([]);
  });
});

it('reads the box facts', () => {
  expect(parseGuestFacts('uid=1000\nsystemd=1\nrsync=0\nsshfs=1\nsudo=1\n')).toEqual({ root: false, systemd: true, rsync: false, sshfs: true, sudo: true });
});

describe('scripts quote every value', () => {
  it('a guest path with quotes and $ stays one word', () => {
    const [entry] = compilePolicy([spec({ guestPath: "/home/dev/it's $HOME", mode: 'delegated' })]).entries;
    expect(teardownScript([entry], { systemd: true }).text).toContain(`mountpoint -q '/home/dev/it'\\''s $HOME'`);
    expect(writeBackScript([entry]).text).toContain(`'wrote back /home/dev/it'\\''s $HOME'`);
  });

  it('a policy without delegated mounts writes nothing back', () => {
    expect(writeBackScript(compilePolicy([spec()]).entries).text).toBe('set -u\nfailed=0\nexit $failed');
  });
});

describe('measurements', () => {
  it('parses the workload lines (microseconds to ms)', () => {
    expect(parseMeasured('warn=x\nsmall-writes hot 1500000\ntree-walk cold 20000\ntree-walk hot 5000\nbuild-mix hot 800\n')).toEqual([
      { workload: 'small-writes', phase: 'hot', durationMs: 1500 },
      { workload: 'tree-walk', phase: 'cold', durationMs: 20 },
      { workload: 'tree-walk', phase: 'hot', durationMs: 5 },
      { workload: 'build-mix', phase: 'hot', durationMs: 0.8 },
    ]);
  });

  it('the workload script uses the sizes and drops caches for the cold phase', () => {
    const text = workloadScript('/home/dev/app', { ddBlocks: 100_000, treeDirs: 50, treeFilesPerDir: 60, mixFiles: 2000 }, { dropCaches: true }).text;
    expect(text).toContain("bs=1k count='100000'");
    expect(text).toContain('echo 3 > /proc/sys/vm/drop_caches');
    expect(text).toContain("W='/home/dev/app/.boxyard-bench'");
  });

  it('recommends per directory from the measured ratios', () => {
    const runs = [
      { transport: '9p', mode: 'consistent', workload: 'small-writes', phase: 'hot', durationMs: 24000 },
      { transport: '9p', mode: 'delegated', workload: 'small-writes', phase: 'hot', durationMs: 2000 },
      { transport: '9p', mode: 'consistent', workload: 'tree-walk', phase: 'hot', durationMs: 36000 },
      { transport: '9p', mode: 'cached', workload: 'tree-walk', phase: 'hot', durationMs: 2200 },
    ];
    expect(recommend('/home/dev/app/build', '9p', runs)).toMatchObject({ mode: 'delegated', why: expect.stringContaining('12.0x') });
    expect(recommend('/home/dev/app', '9p', runs)).toMatchObject({ mode: 'cached', why: expect.stringContaining('16.4x') });
    expect(recommend('/home/dev/app', 'virtiofs', runs).why).toContain('no measurement yet');
  });
});

describe('the apply recipe on the hypervisor host', () => {
  const sharesStep = mountApplyRecipe.steps.find((step) => step.name === 'Share the folders on the hypervisor host')!;

  function ctx(options: { vm: boolean; domstate?: string; xml?: string }) {
    const entries = compilePolicy([spec({ transport: 'virtiofs' })]).entries;
    const hostCommands: string[] = [];
    const result = (stdout: string, code = 0): ExecResult => ({ stdout, stderr: '', code, signal: null, durationMs: 1 }) as ExecResult;
    const context = {
      jobId: 'j',
      box: { id: 'b1', name: 'devbox', sshUser: 'dev' },
      host: options.vm ? { id: 'h1', name: 'host1', kind: 'libvirt' } : null,
      params: {},
      // realSources: what the host-folder step found (each folder its own real path).
      state: { entries, facts: { root: true, systemd: true, rsync: true, sshfs: false, sudo: true }, realSources: Object.fromEntries(entries.map((e) => [e.key, e.source])) },
      signal: new AbortController().signal,
      db: { box: { findUnique: async () => (options.vm ? { vmHostId: 'h1', vmId: 'uuid-1' } : { vmHostId: null, vmId: null }) } },
      exec: async () => result(''),
      hostExec: async (command: ShellCommand) => {
        hostCommands.push(command.text);
        // The recipe goes through the libvirt driver, which finds virsh first and reads the state with dominfo.
        if (command.text.startsWith('command -v')) return result('/usr/bin/virsh\n');
        if (command.text.includes('dominfo')) return result(`Id: -\nName: devbox\nUUID: uuid-1\nState: ${options.domstate ?? 'running'}\n`);
        if (command.text.includes('dumpxml')) return result(options.xml ?? '<domain></domain>');
        return result('');
      },
      log: async () => undefined,
      refreshSession: () => undefined,
    } as unknown as StepContext<unknown, object>;
    return { context, hostCommands, entries };
  }

  it('refuses a box that is not a VM on a registered host and shows what to add by hand', async () => {
    const { context } = ctx({ vm: false });
    await expect(sharesStep.check(context as never)).rejects.toThrow(/devbox is not a VM on a registered hypervisor host[\s\S]*<filesystem type='mount' accessmode='passthrough'>/);
  });

  it('refuses to add a share to a running libvirt VM, saying what to do', async () => {
    const { context } = ctx({ vm: true, domstate: 'running' });
    expect(await sharesStep.check(context as never)).toBe(false);
    const error = await sharesStep.apply(context as never).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StepFailed);
    expect((error as Error).message).toMatch(/devbox is running, and libvirt adds a shared folder only to a stopped VM .* Stop the VM in Boxyard and apply again/);
  });

  it('refuses virtiofs without shared memory backing, then attaches the compiled XML to a stopped VM and starts it', async () => {
    const stopped = ctx({ vm: true, domstate: 'shut off' });
    await expect(sharesStep.apply(stopped.context as never)).rejects.toThrow(/virtiofs needs shared memory backing/);
    const ready = ctx({ vm: true, domstate: 'shut off', xml: "<domain><memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking></domain>" });
    await sharesStep.apply(ready.context as never);
    expect(ready.hostCommands.filter((c) => /attach-device|virsh start/.test(c))).toEqual([
      "cat | LC_ALL=C virsh attach-device --domain 'uuid-1' --file /dev/stdin --config",
      "LC_ALL=C virsh start --domain 'uuid-1'",
    ]);
  });
});

describe('the apply recipe in the box', () => {
  const probeStep = mountApplyRecipe.steps.find((step) => step.name === 'Look at the box')!;
  it('refuses a guest path that holds files of the box, naming some', async () => {
    const entries = compilePolicy([spec({ guestPath: '/home/dev' })]).entries;
    const context = {
      box: { id: 'b1', name: 'devbox', sshUser: 'dev' },
      state: { entries },
      log: async () => undefined,
      exec: async (command: ShellCommand) => {
        const stdout = command.text.includes('uid=') ? 'uid=0\nsystemd=1\nrsync=1\nsshfs=0\nsudo=1\n' : command.text.includes('applied.json') ? '[]' : '.bashrc\n.profile\nnotes.txt\n';
        return { stdout, stderr: '', code: 0, signal: null, durationMs: 1 } as ExecResult;
      },
    } as unknown as StepContext<unknown, object>;
    await expect(probeStep.check(context as never)).rejects.toThrow('/home/dev is not empty in the box (.bashrc, .profile, notes.txt…): mounting over it would hide those files.');
  });
});

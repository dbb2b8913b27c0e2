import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import { LAB_START_TIMEOUT_MS, labTarget } from '../../testing/helpers/ssh';
import { realPathCommand } from '../hosts/share-roots';
import type { HostExec, VmRef } from '../hypervisors/driver';
import { createDriver } from '../hypervisors/factory';
import { compilePolicy } from '../mounts/compile';
import { asRoot as asRootOnGuest, saveAppliedScript, setupScript, teardownScript, writeBackScript } from '../mounts/guest';
import { workloadScript } from '../mounts/measure';
import { validatePolicy, type MountSpec } from '../mounts/policy';
import { addToDockerGroupCommand, dockerInfoAsUserCommand, userGroupsCommand, writeDaemonJsonCommand } from '../provision/docker-commands';
import type { Platform } from '../provision/platform';
import { containerShellCleanupCommand, containerShellCommand, containerStateCommand } from '../terminals/container';
import { isAppError } from '../errors';
import { SshPool } from './pool';
import { sh, type ShellCommand } from './quote';

/**
 * Injection, by class: hostile values (box and VM names, users, paths, mount specs, container names, tags, the
 * messages generated scripts print) go through every builder of remote commands, and what they build runs in a real
 * shell on a lab box. Every payload tries to create one canary file; the file must never appear, no command may be
 * a syntax error (quoting that broke shows as one), and each command must have run. The copy-paste lines of the
 * mount compiler (prlctl, Mutagen, the NFS exports line) are pasted into the same shell and must be as inert.
 * Many commands go in one SSH exec, each in its own `sh -c`, so a run stays in tens of seconds.
 */

const CANARY = `/tmp/boxyard-canary-${randomBytes(4).toString('hex')}`;
const payloads = [
  `$(touch ${CANARY})`,
  `\`touch ${CANARY}\``,
  `'; touch ${CANARY}; '`,
  `"; touch ${CANARY}; "`,
  `\ntouch ${CANARY}\n`,
  `| touch ${CANARY}`,
  `&& touch ${CANARY} &&`,
  `; touch ${CANARY} #`,
  `$(touch\${IFS}${CANARY})`,
  `<(touch ${CANARY})`,
  `'"'"'$(touch ${CANARY})`,
  `\\'; touch ${CANARY}; \\'`,
  '%s%n',
  '$HOME',
  '*',
  '-rf',
  '--',
  ' ',
  '\t',
  '\r\n',
];
const hostile = fc.array(fc.oneof(fc.constantFrom(...payloads), fc.string({ maxLength: 4 })), { minLength: 1, maxLength: 4 }).map((parts) => parts.join(''));
/** What a path field holds: the payloads after a plausible prefix, so the path validation lets most through. */
const hostilePath = (prefix: string) => hostile.map((value) => `${prefix}${value.replace(/\0/g, '')}`);

const platform: Platform = { distro: 'debian', prettyName: 'Debian', codename: 'bookworm', packageManager: 'apt', init: 'none', root: true };

interface Built {
  what: string;
  /** The command line as the remote shell reads it. */
  text: string;
  /** Copy-paste text is not meant to be a script: it must only be inert (no canary); a syntax error is fine. */
  pasted?: boolean;
}

/** Commands a hypervisor driver builds for a hostile VM, recorded rather than run on a host. */
async function driverCommands(kind: string, vm: VmRef, folder: string): Promise<ShellCommand[]> {
  const recorded: ShellCommand[] = [];
  const exec: HostExec = async (command) => {
    recorded.push(command);
    return { stdout: '', stderr: '', code: 0, signal: null, durationMs: 0 };
  };
  const driver = createDriver(kind, exec, { hostName: 'lab' });
  const attempts = [
    () => driver.start(vm),
    () => driver.suspend(vm),
    () => driver.resume(vm),
    () => driver.addSharedFolder(vm, { name: vm.name, hostPath: folder, readOnly: true }),
    () => driver.removeSharedFolder(vm, vm.name),
    () => driver.sharedFolderNames(vm, 'persistent'),
  ];
  for (const attempt of attempts) await attempt().catch(() => undefined); // a refusal of the value is fine: nothing ran
  return recorded;
}

function mountCommands(spec: MountSpec): Built[] {
  let specs: MountSpec[];
  try {
    specs = validatePolicy([spec]);
  } catch {
    return []; // refused as input: it reaches no shell
  }
  let entries;
  try {
    entries = compilePolicy(specs, { box: { sshUser: 'dev', host: 'box1.lan', port: 22 } }).entries;
  } catch {
    return [];
  }
  const built: Built[] = [
    { what: 'setup (systemd)', text: setupScript(entries, { systemd: true }).text },
    { what: 'setup (fstab)', text: setupScript(entries, { systemd: false }).text },
    { what: 'teardown', text: teardownScript(entries, { systemd: true }).text },
    { what: 'write-back', text: writeBackScript(entries).text },
    { what: 'save applied', text: saveAppliedScript(entries).text },
    { what: 'as root', text: asRootOnGuest(true, teardownScript(entries, { systemd: false })).text },
  ];
  for (const entry of entries) {
    // As a user pastes it: the text shown is the command line.
    if (['prlctl', 'mutagen', 'nfs-export'].includes(entry.host.kind)) built.push({ what: `copy-paste ${entry.host.kind}`, text: entry.host.text, pasted: true });
  }
  return built;
}

/** The text a POSIX shell reads outside single-quoted words (backslash escapes and double quotes do not hide $(...)). */
function outsideSingleQuotes(text: string): string {
  let outside = '';
  let inDouble = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === "'" && !inDouble) {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return outside + text.slice(i);
      i = end;
    } else if (char === '\\') {
      outside += text.slice(i, i + 2);
      i++;
    } else {
      if (char === '"') inDouble = !inDouble;
      outside += char;
    }
  }
  return outside;
}

async function buildAll(values: { name: string; user: string; path: string; container: string; tag: string; session: string }, transports: MountSpec['transport'][]): Promise<Built[]> {
  const { name, user, path, container, tag, session } = values;
  const builders: [string, () => ShellCommand][] = [
    ['container state', () => containerStateCommand(container)],
    ['container shell', () => containerShellCommand(container, session, { cols: 80, rows: 24 })],
    ['container cleanup', () => containerShellCleanupCommand(container, session)],
    ['user groups', () => userGroupsCommand(user)],
    ['docker group', () => addToDockerGroupCommand(platform, user)],
    ['docker info as user', () => dockerInfoAsUserCommand(platform, user)],
    ['daemon.json', () => writeDaemonJsonCommand(platform, JSON.stringify({ labels: [tag, name] }))],
    ['realpath on the host', () => realPathCommand(path)],
    ['measure', () => workloadScript(`/tmp/bench${path}`, { ddBlocks: 1, treeDirs: 1, treeFilesPerDir: 1, mixFiles: 1 }, { dropCaches: false })],
  ];
  const built: Built[] = [];
  for (const [what, build] of builders) {
    try {
      built.push({ what, text: build().text });
    } catch (error) {
      if (!isAppError(error, 'BAD_INPUT')) throw error; // refused as input (a NUL byte): it reaches no shell
    }
  }
  for (const kind of ['libvirt', 'parallels', 'utm']) {
    for (const command of await driverCommands(kind, { id: name, name }, path)) built.push({ what: `${kind} driver`, text: command.text });
  }
  for (const transport of transports) {
    const remote = transport === 'nfs' || transport === 'sshfs' || transport === 'mutagen';
    const spec: MountSpec = {
      hostPath: remote ? `${user.replace(/[^A-Za-z0-9._-]/g, '') || 'u'}@server:/src/${path}` : `/src/${path}`,
      guestPath: `/srv/${name}`,
      transport,
      mode: transport === 'mutagen' ? 'cached' : 'delegated',
      readOnly: false,
      overrides: [{ subPath: tag.replace(/^\/+/, '') || 'x', mode: transport === 'mutagen' ? 'cached' : 'consistent' }],
    };
    built.push(...mountCommands(spec));
  }
  return built.filter((entry) => entry.text !== '');
}

describe('hostile values through every remote command builder, in a real shell', () => {
  let box: LabBox;
  const pool = new SshPool();

  beforeAll(async () => {
    box = await startLabBox({ namePrefix: 'boxyard-injection' });
    pool.start();
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    await pool.stop();
    await box?.remove();
  });

  /**
   * Runs each command in dash and in bash, each in its own `-c` (after a syntax check in both), in a scratch folder;
   * one line per command. The batch goes on stdin: as one argument it would pass the kernel's 128 KiB limit.
   */
  function batch(built: readonly Built[]): string {
    const lines = built.map(({ text, pasted }, i) => {
      const run = sh`timeout 5 sh -c ${text} </dev/null >/dev/null 2>&1; timeout 5 bash -c ${text} </dev/null >/dev/null 2>&1; echo ${`ran ${i}`}`;
      return pasted ? run : sh`if sh -n -c ${text} 2>/dev/null && bash -n -c ${text} 2>/dev/null; then ${run}; else echo ${`syntax ${i}`}; fi`;
    });
    return sh.join([sh`cd "$(mktemp -d)" || exit 1`, ...lines, sh`if [ -e ${CANARY} ]; then echo CANARY; fi`, sh``], sh`\n`).text;
  }

  async function runOnBox(built: readonly Built[]) {
    // A branch that does not run on the lab box (an unmount that fails) can still hide a payload: none may stand
    // outside single quotes in the text the shell reads (inside double quotes, $(...) runs).
    expect(built.filter((entry) => outsideSingleQuotes(entry.text).includes(CANARY)).map((entry) => `${entry.what}: ${entry.text.slice(0, 300)}`)).toEqual([]);
    const result = await pool.exec('injection-box', labTarget(box), sh`sh -s`, { stdin: batch(built), timeoutMs: 120_000 });
    const said = result.stdout.split('\n');
    const syntax = said.filter((line) => line.startsWith('syntax ')).map((line) => built[Number(line.slice(7))]);
    expect(syntax.map((entry) => `${entry.what}: ${entry.text.slice(0, 200)}`)).toEqual([]);
    expect(said.filter((line) => line.startsWith('ran '))).toHaveLength(built.length);
    expect(said).not.toContain('CANARY');
  }

  it('the canary check itself works: an unquoted payload does create it', async () => {
    const unquoted = sh`sh -c ${`echo ${payloads[0]}`} >/dev/null 2>&1; test -e ${CANARY} && echo made; rm -f ${CANARY}`;
    expect((await pool.exec('injection-box', labTarget(box), unquoted, { timeoutMs: 10_000 })).stdout).toBe('made\n');
  });

  it('no generated value gets out of its word, in any builder', async () => {
    let commands = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({ name: hostile, user: hostile, path: hostilePath('p/'), container: hostile, tag: hostile, session: hostile }),
        fc.shuffledSubarray(['9p', 'virtiofs', 'parallels', 'nfs', 'sshfs', 'mutagen'] as MountSpec['transport'][], { minLength: 2 }),
        async (values, transports) => {
          const built = await buildAll(values, transports);
          commands += built.length;
          await runOnBox(built);
        },
      ),
      { numRuns: 25 },
    );
    expect(commands).toBeGreaterThan(25 * 20);
  }, 300_000);
});

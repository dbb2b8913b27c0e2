import { sh, type ShellCommand } from '../ssh/quote';
import { BOXYARD_DIR, mountCommandText, replicaRsync, type CompiledEntry, type GuestUnit } from './compile';

/**
 * The guest side of applying mounts, as shell scripts built from compiled entries (pure; every line is built with
 * the `sh` template, so every value in it, messages included, is one quoted word). apply-recipe.ts runs them as
 * root over SSH; tests read them.
 *
 * State on the box: /var/lib/boxyard/mounts/applied.json holds the entries that last came up and verified, so a
 * later apply knows what to take down and a failed one what to put back, even if the dashboard's database is older.
 */

export const APPLIED_FILE = `${BOXYARD_DIR}/applied.json`;
export const SYNC_TOOL = '/usr/local/sbin/boxyard-mount-sync';
export const UNIT_DIR = '/etc/systemd/system';
export const FSTAB_BEGIN = '# BEGIN boxyard mounts (managed: changes are overwritten)';
export const FSTAB_END = '# END boxyard mounts';

export function asRoot(root: boolean, command: ShellCommand): ShellCommand {
  return root ? sh`sh -c ${command.text}` : sh`sudo -n sh -c ${command.text}`;
}

/** One script of lines; each line is built with `sh`, so every value in it (messages too) is one quoted word. */
function script(lines: readonly ShellCommand[]): ShellCommand {
  return sh.join(lines, sh`\n`);
}

/** Facts apply needs: root?, systemd?, rsync?, the share file systems the kernel knows. */
export const probeGuestCommand = sh.raw(
  [
    'echo "uid=$(id -u)"',
    'if [ -d /run/systemd/system ]; then echo systemd=1; else echo systemd=0; fi',
    'if command -v rsync >/dev/null 2>&1; then echo rsync=1; else echo rsync=0; fi',
    'if command -v sshfs >/dev/null 2>&1; then echo sshfs=1; else echo sshfs=0; fi',
    'if sudo -n true >/dev/null 2>&1; then echo sudo=1; else echo sudo=0; fi',
  ].join('\n'),
);

export interface GuestFacts {
  root: boolean;
  systemd: boolean;
  rsync: boolean;
  sshfs: boolean;
  sudo: boolean;
}

export function parseGuestFacts(stdout: string): GuestFacts {
  const get = (key: string) => new RegExp(`^${key}=(\\S+)`, 'm').exec(stdout)?.[1];
  return { root: get('uid') === '0', systemd: get('systemd') === '1', rsync: get('rsync') === '1', sshfs: get('sshfs') === '1', sudo: get('sudo') === '1' };
}

const units = (entries: readonly CompiledEntry[]) => entries.flatMap((entry) => entry.units);

/** Unmounts entries deepest first (stops their units), removes Boxyard's unit files and fstab block. Never fails on "not mounted". */
export function teardownScript(entries: readonly CompiledEntry[], facts: Pick<GuestFacts, 'systemd'>): ShellCommand {
  const all = units(entries).reverse();
  const fstabBlock = `/^${FSTAB_BEGIN.replace(/[()/]/g, '.')}$/,/^${FSTAB_END}$/d`;
  return script([
    sh`set -u`,
    sh`failed=0`,
    ...all.flatMap((u) => [
      facts.systemd ? sh`systemctl stop ${u.unitName} 2>/dev/null || true` : sh`:`,
      sh`if mountpoint -q ${u.where}; then umount ${u.where} || umount -l ${u.where} || { echo ${`could not unmount ${u.where}`} >&2; failed=1; }; fi`,
      sh`rm -f ${`${UNIT_DIR}/${u.unitName}`}`,
    ]),
    facts.systemd ? sh`systemctl daemon-reload 2>/dev/null || true` : sh`:`,
    sh`if [ -f /etc/fstab ]; then sed -i ${fstabBlock} /etc/fstab; fi`,
    sh`exit $failed`,
  ]);
}

/** Writes units (or the fstab block), mounts every entry in order, seeds replicas once, installs boxyard-mount-sync. */
export function setupScript(entries: readonly CompiledEntry[], facts: Pick<GuestFacts, 'systemd'>): ShellCommand {
  const lines = [sh`set -eu`, sh`mkdir -p ${BOXYARD_DIR}`];
  if (facts.systemd) {
    for (const u of units(entries)) lines.push(sh`printf '%s' ${u.text} > ${`${UNIT_DIR}/${u.unitName}`}`);
    lines.push(sh`systemctl daemon-reload`);
  } else if (entries.length) {
    const block = [FSTAB_BEGIN, ...units(entries).map((u) => u.fstab), FSTAB_END].join('\n');
    lines.push(sh`printf '%s\\n' ${block} >> /etc/fstab`);
  }
  for (const entry of entries) {
    for (const u of entry.units) {
      lines.push(sh`mkdir -p ${u.where}`);
      if (entry.replica && u.what === entry.replica.replicaDir) {
        // First apply: copy the host's files into the replica once; later applies keep the box's own changes.
        const seeded = `${BOXYARD_DIR}/${entry.key}/seeded`;
        lines.push(sh`mkdir -p ${entry.replica.replicaDir}`, sh`if [ ! -f ${seeded} ]; then ${replicaRsync(entry.replica, 'seed')} && touch ${seeded}; fi`);
        for (const sub of entry.replica.excludes) lines.push(sh`mkdir -p ${`${entry.replica.replicaDir}/${sub}`}`);
      }
      lines.push(
        facts.systemd
          ? sh`systemctl start ${u.unitName} || { journalctl -u ${u.unitName} -n 5 --no-pager -o cat >&2 2>/dev/null; exit 1; }`
          : sh`mountpoint -q ${u.where} || ${mountCommandText(u)}`,
      );
    }
  }
  lines.push(sh`printf '%s' ${syncToolText(entries)} > ${SYNC_TOOL}`, sh`chmod 755 ${SYNC_TOOL}`);
  return script(lines);
}

export function saveAppliedScript(entries: readonly CompiledEntry[]): ShellCommand {
  return script([sh`mkdir -p ${BOXYARD_DIR}`, sh`printf '%s' ${JSON.stringify(entries)} > ${`${APPLIED_FILE}.new`}`, sh`mv ${`${APPLIED_FILE}.new`} ${APPLIED_FILE}`]);
}

export const readAppliedCommand = sh`cat ${APPLIED_FILE} 2>/dev/null || echo '[]'`;

/**
 * The write-back of every delegated entry (rule 2 on demand, rule 4 before stop/suspend): replicas are rsynced to
 * their share and the share synced to stable storage; NFS delegated mounts are flushed with sync -f. Refuses a
 * replica that was never seeded (an empty replica would delete the host's files). Prints one line per entry.
 */
export function writeBackLines(entries: readonly CompiledEntry[]): ShellCommand[] {
  const lines = [sh`set -u`, sh`failed=0`];
  for (const entry of entries) {
    if (entry.mode !== 'delegated') continue;
    if (entry.replica) {
      const seeded = `${BOXYARD_DIR}/${entry.key}/seeded`;
      const share = entry.units[0];
      lines.push(
        sh`if [ ! -f ${seeded} ]; then echo ${`nothing to write back for ${entry.guestPath} (never seeded)`};`,
        sh`elif ! mountpoint -q ${share.where}; then echo ${`write-back of ${entry.guestPath} FAILED: the share is not mounted at ${share.where}; the box's changes are kept in ${entry.replica.replicaDir}`} >&2; failed=1;`,
        sh`elif ${replicaRsync(entry.replica, 'write-back')} && sync -f ${share.where}; then echo ${`wrote back ${entry.guestPath}`};`,
        sh`else echo ${`write-back of ${entry.guestPath} FAILED; the box's changes are kept in ${entry.replica.replicaDir}`} >&2; failed=1; fi`,
      );
    } else if (entry.transport === 'nfs') {
      lines.push(sh`if sync -f ${entry.guestPath}; then echo ${`flushed ${entry.guestPath}`}; else echo ${`flush of ${entry.guestPath} FAILED; unwritten data stays in the box's page cache`} >&2; failed=1; fi`);
    }
  }
  lines.push(sh`exit $failed`);
  return lines;
}

export function writeBackScript(entries: readonly CompiledEntry[]): ShellCommand {
  return script(writeBackLines(entries));
}

function syncToolText(entries: readonly CompiledEntry[]): string {
  return [sh`#!/bin/sh`, sh`# boxyard-mount-sync: writes the box's delegated mounts back to the host (generated by Boxyard).`, ...writeBackLines(entries), sh``].map((line) => line.text).join('\n');
}

export interface ProcMount {
  what: string;
  where: string;
  type: string;
  options: string[];
}

const unescapeProc = (value: string) => value.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));

export function parseProcMounts(text: string): ProcMount[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((row) => {
      const [what, where, type, options] = row.split(' ');
      return { what: unescapeProc(what), where: unescapeProc(where), type, options: (options ?? '').split(',') };
    });
}

/** What /proc/mounts must show for a unit (the last mount on its path wins). Null when it does. */
export function unitMismatch(u: GuestUnit, mounts: readonly ProcMount[]): string | null {
  const found = [...mounts].reverse().find((m) => m.where === u.where);
  if (!found) return `${u.where} is not mounted`;
  if (u.type === 'none') return null; // a bind mount shows the underlying file system's type
  const wantedType = u.type === 'nfs' ? /^nfs4?$/ : new RegExp(`^${u.type.replace('.', '\\.')}$`);
  if (!wantedType.test(found.type)) return `${u.where} is mounted as ${found.type}, not ${u.type}`;
  if (u.type === '9p') {
    const cache = /cache=(\w+)/.exec(u.options)?.[1];
    // Linux 6.1 prints the mode as a bare word (loose, mmap, fscache; none is not printed, measured on Debian 12's
    // kernel); newer kernels print cache=<flags in hex> (0x0 = none, 0xf = loose, 0x4 = mmap).
    const shown = found.options.find((o) => o.startsWith('cache='))?.slice(6) ?? found.options.find((o) => ['loose', 'mmap', 'fscache'].includes(o)) ?? 'none';
    const normal = ({ '0x0': 'none', '0xf': 'loose', '0x4': 'mmap' } as Record<string, string>)[shown] ?? shown;
    if (cache && normal !== cache) return `${u.where} is mounted with cache=${normal}, not cache=${cache}`;
  }
  const wantsRo = u.options.split(',').includes('ro');
  if (wantsRo !== found.options.includes('ro')) return `${u.where} is mounted ${found.options.includes('ro') ? 'read-only' : 'read-write'}, not as wanted`;
  return null;
}

export function entriesMismatch(entries: readonly CompiledEntry[], mounts: readonly ProcMount[]): string[] {
  return units(entries)
    .map((u) => unitMismatch(u, mounts))
    .filter((problem): problem is string => problem !== null);
}

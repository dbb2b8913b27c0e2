import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { AppError } from '../errors';
import type { SharedFolder } from '../hypervisors/driver';
import { sh } from '../ssh/quote';
import { NFS_EXPORT_PATH, normalizePath, parseRemoteSpec, type MountMode, type MountSpec, type MountTransport } from './policy';

/**
 * The compiler: a mount policy in, each transport's concrete configuration out. PURE (no I/O, no clock): the same
 * policy always compiles to the same text, so apply can compare what is on the box with what is wanted, and the
 * last working compilation (Mount.appliedConfig) is what a failed apply rolls back to.
 *
 * Every mount and every subdirectory override becomes one entry, in mount order (parents before the mounts stacked
 * under them). An entry carries: the host-side action (libvirt <filesystem> XML, prlctl, an NFS exports line, a
 * Mutagen command, or nothing), the guest side (systemd mount units, the same as fstab lines, the mount commands),
 * for `delegated` the replica and its write-back, and the guarantees of Docker's proposal that hold, are weakened, or
 * cannot be met on this transport, in plain words. Nothing is ever silently downgraded: a weakened guarantee is in
 * the entry and the UI shows it.
 *
 * `delegated` (the guest's view is authoritative) needs a write-back cache that no shared-filesystem transport
 * here offers for small writes (9p has none; virtiofs' FUSE writeback and NFS async only batch within the page
 * cache). Boxyard's design, for 9p, virtiofs, Parallels and sshfs: a REPLICA on the guest's own disk,
 *   - the share is mounted (consistent) at /var/lib/boxyard/mounts/<key>/share,
 *   - on first apply it is copied into /var/lib/boxyard/mounts/<key>/replica, which is bind-mounted on the guest path,
 *     so the box reads and writes at local-disk speed,
 *   - write-back = `rsync -a --delete replica/ share/` then `sync -f` (rule 2: run on `boxyard-mount-sync`, which the
 *     user or a hook calls, and rule 4: before every stop/suspend through Boxyard; a failed write-back fails the stop),
 *   - the host's own later changes are not seen (rule 6) and are overwritten by the next write-back (rule 7).
 * NFS uses the kernel client's own write cache instead (async, nocto: fsync and `sync` do write back, so rule 2 holds
 * fully), and Mutagen's two-way-resolved session with the box as alpha (the guest wins conflicts).
 */

export const BOXYARD_DIR = '/var/lib/boxyard/mounts';
/** 9p message size: 256 KiB is accepted by every virtio transport since Linux 5.x (6.1 allows up to 512000). */
export const NINEP_MSIZE = 262144;
export const SSHFS_KEY = '/etc/boxyard/mount_ed25519';

export type GuaranteeStatus = 'holds' | 'weakened' | 'not-met' | 'relaxed';

export interface Guarantee {
  /** Stable id, e.g. "host-to-guest". */
  id: string;
  /** The proposal's rule, e.g. "consistent 2". */
  rule: string;
  status: GuaranteeStatus;
  /** Plain words: what the box and the host will see. */
  text: string;
}

export type HostActionKind = 'libvirt-9p' | 'libvirt-virtiofs' | 'virtiofsd' | 'prlctl' | 'nfs-export' | 'mutagen' | 'none';

export interface HostAction {
  kind: HostActionKind;
  /** Where it runs: the hypervisor host (Boxyard does it through the driver), the NFS server, the developer's machine. */
  runsOn: 'hypervisor' | 'nfs-server' | 'developer-machine' | 'nowhere';
  /** The concrete configuration: device XML, a command line, an exports line. */
  text: string;
  /** For hypervisor shares: what HypervisorDriver.addSharedFolder gets. */
  share?: SharedFolder;
  /** The hypervisor only takes this device into a stopped VM (libvirt: persistent config, takes effect at boot). */
  needsStoppedVm: boolean;
  notes: string[];
}

export interface GuestUnit {
  /** systemd unit file name, e.g. home-dev-app.mount */
  unitName: string;
  what: string;
  where: string;
  type: string;
  options: string;
  /** The full unit file. */
  text: string;
  /** The same mount as one /etc/fstab line (boxes without systemd). */
  fstab: string;
}

export interface Replica {
  shareDir: string;
  replicaDir: string;
  /** Subpaths (relative to the replica) that other entries mount over: never copied either way. */
  excludes: string[];
}

export interface CompiledEntry {
  /** Stable key: the share tag, the unit prefix, the replica folder name. */
  key: string;
  guestPath: string;
  /** The source of this entry (the mount's host path, or host path + subPath for an override). */
  source: string;
  transport: MountTransport;
  mode: MountMode;
  readOnly: boolean;
  /** Guest path of the entry this one is stacked under, if any. */
  parent: string | null;
  /** Override subPath when this entry comes from an override. */
  subPath: string | null;
  host: HostAction;
  /** Units in the order they must start (delegated: share, then the replica's bind mount). */
  units: GuestUnit[];
  replica: Replica | null;
  guarantees: Guarantee[];
  /** 'full' when every guarantee the mode asks for holds. */
  level: 'full' | 'weakened';
  /** One sentence for the UI. */
  summary: string;
}

export interface CompileContext {
  /** The box as the source sees it (sshfs/Mutagen endpoints; NFS exports client). */
  box?: { sshUser: string; host: string; port: number };
  /** Compose service the override file attaches the bind mounts to. */
  composeService?: string;
}

export interface CompiledPolicy {
  entries: CompiledEntry[];
  /** docker-compose.override.yml for Docker Desktop users (the :consistent|:cached|:delegated flags). */
  compose: string;
}

// ---- helpers ----

export function mountKey(guestPath: string): string {
  return `by-${createHash('sha256').update(normalizePath(guestPath)).digest('hex').slice(0, 12)}`;
}

/** systemd-escape --path: the unit name systemd requires for a mount at `path`. */
export function systemdEscapePath(path: string): string {
  const trimmed = normalizePath(path).replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '-';
  return trimmed
    .split('/')
    .map((part) =>
      [...Buffer.from(part, 'utf8')]
        .map((byte, i) => {
          const ch = String.fromCharCode(byte);
          if (/[A-Za-z0-9:_]/.test(ch) || (ch === '.' && i > 0)) return ch;
          return `\\x${byte.toString(16).padStart(2, '0')}`;
        })
        .join(''),
    )
    .join('-');
}

export function mountUnitName(path: string): string {
  return `${systemdEscapePath(path)}.mount`;
}

/** fstab fields escape blanks as octal. */
function fstabField(value: string): string {
  return value.replace(/[\\ \t\n]/g, (ch) => `\\${ch.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

function xmlAttr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Unit files keep values unquoted; systemd splits nothing in What/Where/Options, but `%` is a specifier. */
function unitValue(value: string): string {
  if (/[\n\r]/.test(value)) throw new Error(`a mount value cannot contain a line break: ${JSON.stringify(value)}`);
  return value.replace(/%/g, '%%');
}

function unit(entry: { key: string; guestPath: string; transport: MountTransport; mode: MountMode }, what: string, where: string, type: string, options: string, deps: string[], network: boolean, role: string): GuestUnit {
  const unitName = mountUnitName(where);
  const lines = [
    `# Managed by Boxyard (${entry.key}): ${entry.guestPath}, ${entry.transport}, ${entry.mode}${role ? `, ${role}` : ''}. Changes are overwritten.`,
    '[Unit]',
    `Description=Boxyard mount ${unitValue(entry.guestPath)} (${entry.transport}, ${entry.mode}${role ? `, ${role}` : ''})`,
    ...(network ? ['Wants=network-online.target', 'After=network-online.target'] : []),
    ...deps.flatMap((dep) => [`Requires=${dep}`, `After=${dep}`]),
    '',
    '[Mount]',
    `What=${unitValue(what)}`,
    `Where=${unitValue(where)}`,
    `Type=${type}`,
    `Options=${unitValue(options)}`,
    'TimeoutSec=30',
    '',
    '[Install]',
    `WantedBy=${network ? 'remote-fs.target' : 'local-fs.target'}`,
    '',
  ];
  const fstabOptions = type === 'none' ? options : `${options}${network ? ',_netdev' : ''}`;
  return {
    unitName,
    what,
    where,
    type,
    options,
    text: lines.join('\n'),
    fstab: `${fstabField(what)} ${fstabField(where)} ${type} ${fstabField(fstabOptions)}${deps.length ? `,x-systemd.requires=${fstabField(deps[0])}` : ''} 0 0`,
  };
}

// ---- guarantees ----

const g = (id: string, rule: string, status: GuaranteeStatus, text: string): Guarantee => ({ id, rule, status, text });

const NO_EVENTS =
  'No file system events cross this transport (inotify in the box sees only the box\'s own changes); the rule is conditional ("if the implementation offers events"), so it holds vacuously: tools that watch files need polling.';
const SHARED_CACHE = 'Every container on the box uses the one mount, so they all share one view (one cache).';
const OVERLAP = 'Subdirectories with another mode are their own mounts stacked over this one, so the overlapping part obeys its own (stronger or weaker) mode.';
const SPECIALS = 'Sockets, pipes and devices are never shared between host and guest processes by any VM transport; inside the box they behave as on a local disk.';

function guaranteesFor(transport: MountTransport, mode: MountMode, replicaDir: string | null): Guarantee[] {
  const list: Guarantee[] = [];
  const events = g('events', mode === 'delegated' ? 'delegated 1' : 'cached 2', 'holds', NO_EVENTS);
  const shared = g('shared-cache', 'delegated 3', 'holds', SHARED_CACHE);
  const overlap = g('overlap', mode === 'delegated' ? 'delegated 5' : 'cached 4', 'holds', OVERLAP);

  if (mode === 'consistent') {
    const hostToGuest: Record<MountTransport, Guarantee> = {
      '9p': g('host-to-guest', 'consistent 2', 'holds', '9p cache=none: every read and lookup asks the host, so host writes are visible in the box at once.'),
      virtiofs: g('host-to-guest', 'consistent 2', 'holds', 'virtiofsd cache=none: the guest keeps no data or metadata cache, so host writes are visible at once.'),
      parallels: g('host-to-guest', 'consistent 2', 'weakened', 'prl_fs keeps a short attribute cache in the guest that Boxyard cannot turn off: a host change may take up to about a second to show.'),
      nfs: g('host-to-guest', 'consistent 2', 'holds', 'noac, lookupcache=none: attributes and names are fetched on every access, so host changes are seen at once (NFS only promises this for attributes; data is re-read because noac revalidates on open).'),
      sshfs: g('host-to-guest', 'consistent 2', 'holds', 'dir_cache=no, attr/entry/negative_timeout=0 and direct_io: no caching in the box, every access goes to the source.'),
      mutagen: g('host-to-guest', 'consistent 2', 'not-met', 'Mutagen cannot be consistent.'),
    };
    list.push(hostToGuest[transport]);
    list.push(
      transport === 'parallels'
        ? g('guest-to-host', 'cached 3', 'holds', 'prl_fs writes through to the host.')
        : g('guest-to-host', 'cached 3', 'holds', `Box writes are sent to the host before the write returns (${transport === 'nfs' ? 'sync' : transport === 'sshfs' ? 'sshfs_sync' : 'no guest write cache'}).`),
    );
    list.push(events, shared, overlap);
  } else if (mode === 'cached') {
    const guestToHost: Record<MountTransport, Guarantee> = {
      '9p': g('guest-to-host', 'cached 3', 'holds', 'cache=loose alone would keep box writes in the guest page cache (measured on Linux 6.1), so the mount is also `sync`: every write is flushed to the host before it returns; directory changes are synchronous (dirsync). The price: each write() waits for an fsync on the host, so small writes are much slower than on consistent (lab VM: 20,000 x 1 KiB took 55 s against 1.4 s); keep written-to folders consistent or delegated.'),
      virtiofs: g('guest-to-host', 'cached 3', 'holds', 'virtiofs without -o writeback writes through to the host; metadata and directory changes are synchronous.'),
      parallels: g('guest-to-host', 'cached 3', 'not-met', 'not offered'),
      nfs: g('guest-to-host', 'cached 3', 'holds', 'The sync mount option sends every write to the server before it returns.'),
      sshfs: g('guest-to-host', 'cached 3', 'holds', 'sshfs_sync: every write waits for the server.'),
      mutagen: g('guest-to-host', 'cached 3', 'weakened', 'Box writes reach the host after the next synchronisation cycle (Mutagen watches and syncs within about a second, not before the write returns).'),
    };
    const late: Record<MountTransport, string> = {
      '9p': 'cache=loose: the box keeps file data, attributes and names and does not notice host changes until the cache is dropped (remount or memory pressure).',
      virtiofs: 'virtiofsd cache=always: the box keeps data and metadata and may not notice host changes until they are evicted.',
      parallels: '',
      nfs: 'actimeo=60: host changes show within 60 s (and at the next open of a file, close-to-open).',
      sshfs: 'dcache_timeout=60, attr/entry_timeout=60, kernel_cache: host changes show within about a minute.',
      mutagen: 'Host changes arrive after the next synchronisation cycle.',
    };
    list.push(guestToHost[transport]);
    list.push(g('host-to-guest', 'cached 5 (delegated 6)', 'relaxed', late[transport]));
    list.push(events, shared, overlap);
  } else {
    if (replicaDir) {
      list.push(
        g('sync-writes-back', 'delegated 2', 'weakened', `Writes stay on the box's own disk (${replicaDir}) until a write-back: \`boxyard-mount-sync\` on the box, "Write back" in Boxyard, or a stop/suspend through Boxyard. A plain fsync()/sync in the box makes the data durable on the box, not on the host.`),
        g('stop-writes-back', 'delegated 4', 'holds', `Boxyard writes back before it stops or suspends the VM; if the write-back fails the stop fails and names ${replicaDir}, where the data stays. A shutdown from inside the box or on the hypervisor directly skips the write-back: the data stays in ${replicaDir} and is written back at the next Boxyard write-back.`),
        g('host-to-guest', 'delegated 6', 'relaxed', 'The box sees the host\'s files as they were at the first apply; later host changes are not seen.'),
        g('host-changes-lost', 'delegated 7', 'relaxed', 'Host changes made after the first apply are overwritten (or deleted) by the next write-back.'),
      );
    } else if (transport === 'nfs') {
      list.push(
        g('sync-writes-back', 'delegated 2', 'holds', 'async, nocto: the NFS client keeps writes in the page cache; fsync(), sync and close-to-open-free flushes write them to the server.'),
        g('stop-writes-back', 'delegated 4', 'holds', 'Boxyard runs `sync -f` on the mount before it stops or suspends the VM and fails the stop if that fails.'),
        g('host-to-guest', 'delegated 6', 'relaxed', 'actimeo=60, nocto: host changes may take a minute or more to show.'),
      );
    } else if (transport === 'mutagen') {
      list.push(
        g('sync-writes-back', 'delegated 2', 'weakened', 'Box writes reach the host at the next synchronisation cycle, not at fsync(); `mutagen sync flush` forces one.'),
        g('stop-writes-back', 'delegated 4', 'holds', 'Boxyard flushes the session (`mutagen sync flush`) before stop/suspend on the machine that runs Mutagen; Boxyard cannot run it there, so the stop tells the user to flush first.'),
        g('host-changes-lost', 'delegated 7', 'relaxed', 'two-way-resolved with the box as alpha: on a conflict the box\'s version wins and the host\'s change is lost.'),
      );
    }
    list.push(events, shared, overlap);
  }
  list.push(g('specials', mode === 'consistent' ? 'consistent' : 'delegated 8', 'holds', SPECIALS));
  return list;
}

// ---- per transport ----

interface EntryInput extends Pick<CompiledEntry, 'key' | 'guestPath' | 'source' | 'transport' | 'mode' | 'readOnly' | 'parent' | 'subPath'> {
  parentUnit: string | null;
  childSubPaths: string[];
}

function libvirt9pXml(tag: string, hostPath: string, readOnly: boolean): string {
  return [
    `<filesystem type='mount' accessmode='mapped'>`,
    `  <source dir='${xmlAttr(hostPath)}'/>`,
    `  <target dir='${xmlAttr(tag)}'/>`,
    ...(readOnly ? ['  <readonly/>'] : []),
    `</filesystem>`,
  ].join('\n');
}

function virtiofsCache(mode: MountMode): 'none' | 'always' {
  // cached: a long cache lifetime in the guest; consistent (and the share under a delegated replica): no cache.
  return mode === 'cached' ? 'always' : 'none';
}

function libvirtVirtiofsXml(tag: string, hostPath: string, readOnly: boolean, mode: MountMode): string {
  return [
    `<filesystem type='mount' accessmode='passthrough'>`,
    `  <driver type='virtiofs' queue='1024'/>`,
    `  <binary path='/usr/lib/qemu/virtiofsd' xattr='on'>`,
    `    <cache mode='${virtiofsCache(mode)}'/>`,
    `  </binary>`,
    `  <source dir='${xmlAttr(hostPath)}'/>`,
    `  <target dir='${xmlAttr(tag)}'/>`,
    ...(readOnly ? ['  <readonly/>'] : []),
    `</filesystem>`,
  ].join('\n');
}

function ninepOptions(mode: MountMode, readOnly: boolean): string {
  const cache = mode === 'cached' ? 'loose' : 'none';
  // cached: cache=loose caches reads AND holds writes in the guest's page cache (Linux 6.1, seen in the lab VM: a
  // closed file was still empty on the host). `sync` makes every write flush to the host before it returns, which is
  // cached rule 3; reads stay cached.
  return ['trans=virtio', 'version=9p2000.L', `cache=${cache}`, ...(mode === 'cached' ? ['sync'] : []), `msize=${NINEP_MSIZE}`, 'access=client', ...(readOnly ? ['ro'] : [])].join(',');
}

/**
 * An /etc/exports line is read by exportfs, not a shell, and has no quoting Boxyard could rely on (a blank splits
 * the path from the clients, a parenthesis starts options): every field is checked against what it may hold, so a
 * line an admin pastes can never export another path, to other clients, or with other options.
 */
const NFS_CLIENT = /^(\*|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9A-Fa-f:.]+(?:\/\d{1,3})?)$/;
const NFS_EXPORT_OPTIONS = new Set(['ro', 'rw', 'sync', 'no_subtree_check']);

export function nfsExportsLine(path: string, client: string, options: readonly string[]): string {
  if (!NFS_EXPORT_PATH.test(path)) throw new AppError('BAD_INPUT', `The NFS export path ${JSON.stringify(path)} may contain only letters, digits, / and . _ ~ + -.`);
  if (!NFS_CLIENT.test(client)) throw new AppError('BAD_INPUT', `The NFS client ${JSON.stringify(client)} must be a host name, an IP address (with an optional /prefix) or *.`);
  const unknown = options.filter((option) => !NFS_EXPORT_OPTIONS.has(option));
  if (unknown.length) throw new AppError('BAD_INPUT', `Boxyard does not write the NFS export options ${unknown.join(', ')}.`);
  return `${path} ${client}(${options.join(',')})`;
}

function nfsOptions(mode: MountMode, readOnly: boolean): string {
  const base = ['vers=4.2', 'hard', 'proto=tcp'];
  const byMode = {
    consistent: ['sync', 'noac', 'lookupcache=none'],
    cached: ['sync', 'actimeo=60', 'lookupcache=all'],
    delegated: ['async', 'actimeo=60', 'nocto', 'lookupcache=all'],
  }[mode];
  return [...base, ...byMode, ...(readOnly ? ['ro'] : [])].join(',');
}

function sshfsOptions(mode: MountMode, readOnly: boolean, port: number | null): string {
  const base = ['_netdev', 'reconnect', 'ServerAliveInterval=15', 'ServerAliveCountMax=3', `IdentityFile=${SSHFS_KEY}`, 'StrictHostKeyChecking=accept-new', 'allow_other', 'default_permissions', ...(port ? [`port=${port}`] : [])];
  const byMode = {
    consistent: ['sshfs_sync', 'dir_cache=no', 'attr_timeout=0', 'entry_timeout=0', 'negative_timeout=0', 'direct_io'],
    cached: ['sshfs_sync', 'dir_cache=yes', 'dcache_timeout=60', 'attr_timeout=60', 'entry_timeout=60', 'kernel_cache'],
    // delegated is a replica; its share is mounted consistent.
    delegated: ['sshfs_sync', 'dir_cache=no', 'attr_timeout=0', 'entry_timeout=0', 'negative_timeout=0', 'direct_io'],
  }[mode];
  return [...base, ...byMode, ...(readOnly ? ['ro'] : [])].join(',');
}

function shareName(key: string): string {
  return key;
}

/**
 * The hypervisor side of a 9p, virtiofs or Parallels share of `folder.hostPath`. Also used by the apply job, which
 * attaches the folder's real path on the host (symlinks resolved) rather than the path as written.
 */
export function hypervisorShareAction(transport: '9p' | 'virtiofs' | 'parallels', folder: SharedFolder, shareMode: MountMode): HostAction {
  const { name, hostPath, readOnly } = folder;
  switch (transport) {
    case '9p':
      return {
        kind: 'libvirt-9p',
        runsOn: 'hypervisor',
        text: libvirt9pXml(name, hostPath, readOnly),
        share: folder,
        needsStoppedVm: true,
        notes: ['accessmode=mapped (QEMU security_model=mapped-xattr): owners and modes are kept in xattrs on the host, so QEMU need not run as root. Plain QEMU: -virtfs local,path=…,mount_tag=…,security_model=mapped-xattr.'],
      };
    case 'virtiofs':
      return {
        kind: 'libvirt-virtiofs',
        runsOn: 'hypervisor',
        text: libvirtVirtiofsXml(name, hostPath, readOnly, shareMode),
        share: folder,
        needsStoppedVm: true,
        notes: [
          'virtiofs needs shared memory backing in the domain: <memoryBacking><source type=\'memfd\'/><access mode=\'shared\'/></memoryBacking>.',
          `Without libvirt: ${sh`/usr/lib/qemu/virtiofsd --socket-path=… -o ${`source=${hostPath},cache=${virtiofsCache(shareMode)}`}`.text} and QEMU -object memory-backend-memfd,share=on.`,
        ],
      };
    case 'parallels':
      return {
        kind: 'prlctl',
        runsOn: 'hypervisor',
        text: sh`prlctl set ${'<vm>'} --shf-host-add ${name} --path ${hostPath}${readOnly ? sh.raw(' --mode ro') : sh.raw('')}`.text,
        share: folder,
        needsStoppedVm: false,
        notes: ['Needs Parallels Tools in the guest (prl_fs module, prl_fsd).'],
      };
  }
}

const usesReplica = (transport: MountTransport, mode: MountMode) => mode === 'delegated' && ['9p', 'virtiofs', 'parallels', 'sshfs'].includes(transport);

function compileEntry(input: EntryInput, context: CompileContext): CompiledEntry {
  const { key, transport, mode, readOnly } = input;
  const replica = usesReplica(transport, mode)
    ? { shareDir: `${BOXYARD_DIR}/${key}/share`, replicaDir: `${BOXYARD_DIR}/${key}/replica`, excludes: input.childSubPaths }
    : null;
  // With a replica the share itself is mounted consistent (it is only read at seeding and written at write-back).
  const shareMode: MountMode = replica ? 'consistent' : mode;
  const sharePath = replica ? replica.shareDir : input.guestPath;
  const deps = input.parentUnit ? [input.parentUnit] : [];
  const base = { key, guestPath: input.guestPath, transport, mode };
  let host: HostAction;
  let shareUnit: GuestUnit | null = null;
  const folder: SharedFolder = { name: shareName(key), hostPath: input.source, readOnly };

  switch (transport) {
    case '9p':
    case 'virtiofs':
    case 'parallels': {
      host = hypervisorShareAction(transport, folder, shareMode);
      const type = { '9p': '9p', virtiofs: 'virtiofs', parallels: 'prl_fs' }[transport];
      const options = transport === '9p' ? ninepOptions(shareMode, readOnly) : readOnly ? 'ro' : 'rw';
      shareUnit = unit(base, folder.name, sharePath, type, options, replica ? [] : deps, false, replica ? 'share' : '');
      break;
    }
    case 'nfs': {
      const remote = parseRemoteSpec(input.source)!;
      const client = context.box?.host ?? '*';
      host = {
        kind: 'nfs-export',
        runsOn: 'nfs-server',
        text: nfsExportsLine(remote.path, client, [readOnly ? 'ro' : 'rw', 'sync', 'no_subtree_check']),
        needsStoppedVm: false,
        notes: [`On ${remote.server}: add this line to /etc/exports, then exportfs -ra. The server stays sync in every mode; the box's client options carry the mode.`],
      };
      shareUnit = unit(base, `${remote.server}:${remote.path}`, sharePath, 'nfs', nfsOptions(mode, readOnly), deps, true, '');
      break;
    }
    case 'sshfs': {
      const remote = parseRemoteSpec(input.source)!;
      host = {
        kind: 'none',
        runsOn: 'nowhere',
        text: '',
        needsStoppedVm: false,
        notes: [`${remote.server} must run sshd with SFTP and accept the box's key ${SSHFS_KEY}.pub for ${remote.user ?? 'the same user'}.`],
      };
      const what = `${remote.user ? `${remote.user}@` : ''}${remote.server}:${remote.path}`;
      shareUnit = unit(base, what, sharePath, 'fuse.sshfs', sshfsOptions(shareMode, readOnly, null), replica ? [] : deps, true, replica ? 'share' : '');
      break;
    }
    case 'mutagen': {
      const remote = parseRemoteSpec(input.source)!;
      const box = context.box;
      const boxUrl = box ? `${box.sshUser}@${box.host}:${box.port}:${input.guestPath}` : `<user>@<box>:<port>:${input.guestPath}`;
      const hostUrl = remote.path;
      // cached: the host (alpha) wins conflicts; read-only: a replica of the host. delegated: the box is alpha.
      const syncMode = mode === 'cached' ? (readOnly ? 'one-way-replica' : 'two-way-resolved') : 'two-way-resolved';
      const [alpha, beta] = mode === 'cached' ? [hostUrl, boxUrl] : [boxUrl, hostUrl];
      host = {
        kind: 'mutagen',
        runsOn: 'developer-machine',
        text: sh`mutagen sync create ${`--name=boxyard-${key}`} ${`--sync-mode=${syncMode}`} --ignore-vcs ${`--label=boxyard=${key}`} ${alpha} ${beta}`.text,
        needsStoppedVm: false,
        notes: [`Run on ${remote.server === 'localhost' ? 'the developer\'s machine' : remote.server}, where the files are. Alpha is ${mode === 'cached' ? 'the host' : 'the box'}: it wins conflicts.`],
      };
      break;
    }
  }

  const units: GuestUnit[] = [];
  if (shareUnit) units.push(shareUnit);
  if (replica) {
    units.push(unit(base, replica.replicaDir, input.guestPath, 'none', 'bind', [...(shareUnit ? [shareUnit.unitName] : []), ...deps], false, 'replica'));
  }
  const guarantees = guaranteesFor(transport, mode, replica?.replicaDir ?? null);
  const weak = guarantees.filter((item) => item.status === 'weakened' || item.status === 'not-met');
  const modeWords = { consistent: 'identical views at all times', cached: 'the host is authoritative; the box may see host changes late', delegated: 'the box is authoritative; the host sees box writes after a write-back' }[mode];
  return {
    key,
    guestPath: input.guestPath,
    source: input.source,
    transport,
    mode,
    readOnly,
    parent: input.parent,
    subPath: input.subPath,
    host,
    units,
    replica,
    guarantees,
    level: weak.length ? 'weakened' : 'full',
    summary: `${mode} on ${transport}: ${modeWords}.${weak.length ? ` Weakened: ${weak.map((item) => `${item.rule} (${item.text})`).join(' ')}` : ''}`,
  };
}

function joinSource(transport: MountTransport, source: string, subPath: string): string {
  if (transport === 'nfs' || transport === 'sshfs' || transport === 'mutagen') {
    const remote = parseRemoteSpec(source)!;
    return `${remote.user ? `${remote.user}@` : ''}${remote.server}:${normalizePath(`${remote.path}/${subPath}`)}`;
  }
  return normalizePath(`${source}/${subPath}`);
}

/** Compiles one validated policy (see policy.ts validatePolicy). */
export function compilePolicy(specs: readonly MountSpec[], context: CompileContext = {}): CompiledPolicy {
  const flat: EntryInput[] = [];
  for (const spec of specs) {
    const guestPath = normalizePath(spec.guestPath);
    const key = mountKey(guestPath);
    const subs = spec.overrides.map((o) => o.subPath.replace(/\/+$/, ''));
    flat.push({ key, guestPath, source: spec.hostPath, transport: spec.transport, mode: spec.mode, readOnly: spec.readOnly, parent: null, parentUnit: null, subPath: null, childSubPaths: [] });
    for (const override of spec.overrides) {
      const sub = override.subPath.replace(/\/+$/, '');
      const path = normalizePath(`${guestPath}/${sub}`);
      flat.push({
        key: mountKey(path),
        guestPath: path,
        source: joinSource(spec.transport, spec.hostPath, sub),
        transport: spec.transport,
        mode: override.mode,
        readOnly: spec.readOnly,
        parent: null,
        parentUnit: null,
        subPath: sub,
        childSubPaths: [],
      });
    }
    void subs;
  }
  // Stacking: each entry's parent is the deepest other entry whose guest path contains it (also across mounts).
  const byDepth = [...flat].sort((a, b) => a.guestPath.split('/').length - b.guestPath.split('/').length || a.guestPath.localeCompare(b.guestPath));
  const compiled: CompiledEntry[] = [];
  for (const entry of byDepth) {
    const parent = byDepth
      .filter((other) => other !== entry && entry.guestPath.startsWith(`${other.guestPath}/`))
      .sort((a, b) => b.guestPath.length - a.guestPath.length)[0];
    entry.parent = parent?.guestPath ?? null;
    entry.childSubPaths = byDepth.filter((other) => other.guestPath.startsWith(`${entry.guestPath}/`)).map((other) => other.guestPath.slice(entry.guestPath.length + 1));
    if (parent) {
      const parentCompiled = compiled.find((c) => c.guestPath === parent.guestPath)!;
      entry.parentUnit = parentCompiled.units[parentCompiled.units.length - 1]?.unitName ?? null;
    }
    compiled.push(compileEntry(entry, context));
  }
  return { entries: compiled, compose: composeOverride(specs, context.composeService ?? 'app') };
}

/**
 * docker-compose.override.yml for Docker Desktop on the Mac: each mount and override a bind mount with its flag
 * (Docker Desktop maps them onto its file sharing; on Linux the flags are accepted and ignored, which the proposal
 * allows). The container path is the guest path.
 */
export function composeOverride(specs: readonly MountSpec[], service: string): string {
  const volumes: string[] = [];
  for (const spec of specs) {
    const local = spec.transport === 'nfs' || spec.transport === 'sshfs' || spec.transport === 'mutagen' ? parseRemoteSpec(spec.hostPath)!.path : spec.hostPath;
    const guest = normalizePath(spec.guestPath);
    volumes.push(`${local}:${guest}:${spec.readOnly ? 'ro,' : ''}${spec.mode}`);
    for (const override of spec.overrides) {
      const sub = override.subPath.replace(/\/+$/, '');
      volumes.push(`${normalizePath(`${local}/${sub}`)}:${normalizePath(`${guest}/${sub}`)}:${spec.readOnly ? 'ro,' : ''}${override.mode}`);
    }
  }
  return `# Generated by Boxyard from ${'boxyard.mounts.yaml'}: bind mounts with Docker Desktop's consistency flags.\n${stringify({ services: { [service]: { volumes } } }, { lineWidth: 0 })}`;
}

/** The shell text of the mount for boxes without systemd (and for tests): mkdir, then mount. */
export function mountCommandText(unit: GuestUnit): string[] {
  if (unit.type === 'none') return ['mount', '--bind', unit.what, unit.where];
  if (unit.type === 'fuse.sshfs') return ['sshfs', unit.what, unit.where, '-o', unit.options.split(',').filter((o) => o !== '_netdev').join(',')];
  return ['mount', '-t', unit.type, '-o', unit.options, unit.what, unit.where];
}

/**
 * rsync arguments of a replica's first copy (share -> replica) and of its write-back (replica -> share).
 * --omit-dir-times: over 9p/virtiofs the host side runs as the hypervisor's user (libvirt-qemu), which may not set
 * the times of a folder the developer owns; rsync then fails (exit 23) and the box would refuse to stop.
 */
export function replicaRsync(replica: Replica, direction: 'seed' | 'write-back'): string[] {
  const excludes = replica.excludes.map((sub) => `--exclude=/${sub}/`);
  const [from, to] = direction === 'seed' ? [replica.shareDir, replica.replicaDir] : [replica.replicaDir, replica.shareDir];
  return ['rsync', '-a', '--omit-dir-times', '--delete', ...excludes, `${from}/`, `${to}/`];
}

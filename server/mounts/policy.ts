import { isMap, isSeq, LineCounter, parseDocument, stringify, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { mountModes, mountSpec, mountTransports, type MountMode, type MountTransport } from '../../lib/validation';
import { AppError } from '../errors';

/**
 * The mount policy: which host folders a box sees, over which transport, with which of the consistency guarantees of
 * Docker's proposal (consistent / cached / delegated), plus subdirectories with their own mode ("source cached,
 * build output delegated"). Validation here is the single source of the rules; lib/validation.ts holds the zod
 * shapes the UI shares.
 *
 * Host paths: for 9p, virtiofs and Parallels an absolute path on the box's hypervisor host; for nfs, sshfs and
 * mutagen a remote spec `[user@]server:/abs/path` (the NFS server, the machine the box reaches over SSH, the
 * developer's machine Mutagen runs on).
 */

export { mountModes, mountTransports, type MountMode, type MountTransport };
export type MountSpec = z.output<typeof mountSpec>;
export type MountOverrideSpec = MountSpec['overrides'][number];

/** Guest folders no mount may sit on (the box would lose its own files or stop booting). */
export const systemFolders = [
  '/', '/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/run', '/sbin', '/sys', '/usr', '/var',
  '/root', '/tmp', '/lost+found',
] as const;
/** Folders whose subfolders are system folders too (nothing under /proc or /usr may be shadowed). */
const systemTrees = ['/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/run', '/sbin', '/sys', '/usr'];
/** Under /var only these are fine (e.g. /var/www). */
const varAllowed = ['/var/www', '/var/projects'];

/** What each transport can honour. `weakened` modes are accepted and the compiled guarantees say what is lost. */
export const transportModes: Record<MountTransport, { modes: readonly MountMode[]; why: string }> = {
  '9p': { modes: ['consistent', 'cached', 'delegated'], why: '' },
  virtiofs: { modes: ['consistent', 'cached', 'delegated'], why: '' },
  parallels: {
    modes: ['consistent', 'delegated'],
    why: 'Parallels shared folders (prl_fs) have no guest cache setting Boxyard can choose, so `cached` cannot be told apart from `consistent`',
  },
  nfs: { modes: ['consistent', 'cached', 'delegated'], why: '' },
  sshfs: { modes: ['consistent', 'cached', 'delegated'], why: '' },
  mutagen: {
    modes: ['cached', 'delegated'],
    why: 'Mutagen synchronises asynchronously (after a scan or watch event), so the two sides are never identical at all times',
  },
};

/** What an NFS export path may hold: its /etc/exports line has no quoting Boxyard could rely on (compile.ts). */
export const NFS_EXPORT_PATH = /^\/[A-Za-z0-9._~+\/-]*$/;

export const remoteTransports: readonly MountTransport[] = ['nfs', 'sshfs', 'mutagen'];
/** Transports whose source is a folder of the box's own hypervisor host: only under the host's share roots. */
export const hostFolderTransports: readonly MountTransport[] = mountTransports.filter((transport) => !remoteTransports.includes(transport));

export function normalizePath(path: string): string {
  const trimmed = path.replace(/\/+/g, '/');
  return trimmed.length > 1 ? trimmed.replace(/\/$/, '') : trimmed;
}

export function isSystemFolder(guestPath: string): boolean {
  const path = normalizePath(guestPath);
  if ((systemFolders as readonly string[]).includes(path)) return true;
  if (systemTrees.some((tree) => path.startsWith(`${tree}/`))) return true;
  if (path.startsWith('/var/')) return !varAllowed.some((ok) => path === ok || path.startsWith(`${ok}/`));
  return false;
}

/** Parses `[user@]server:/abs/path`; null when it is not one. */
export function parseRemoteSpec(spec: string): { user: string | null; server: string; path: string } | null {
  const match = /^(?:([A-Za-z0-9._-]+)@)?([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(\/.*)$/.exec(spec);
  if (!match) return null;
  return { user: match[1] ?? null, server: match[2], path: match[3] };
}

export interface PolicyIssue {
  /** Index of the mount in the list, and of the override when it is about one. */
  mount: number;
  override?: number;
  field: string;
  message: string;
}

/** Every problem of one mount on its own (not against the others). */
export function mountIssues(spec: MountSpec, index = 0): PolicyIssue[] {
  const issues: PolicyIssue[] = [];
  const add = (field: string, message: string, override?: number) => issues.push({ mount: index, override, field, message });
  const guestPath = normalizePath(spec.guestPath);
  if (!guestPath.startsWith('/')) add('guestPath', `The guest path must be absolute (start with /): ${spec.guestPath}`);
  else if (guestPath.split('/').includes('..')) add('guestPath', `The guest path may not contain "..": ${spec.guestPath}`);
  else if (isSystemFolder(guestPath)) add('guestPath', `${guestPath} is a system folder of the box; mount under /home, /srv, /opt, /mnt or /workspace instead.`);

  if (remoteTransports.includes(spec.transport)) {
    const remote = parseRemoteSpec(spec.hostPath);
    if (!remote) add('hostPath', `For ${spec.transport} the source is [user@]server:/absolute/path (got ${spec.hostPath}).`);
    else if (remote.path.split('/').includes('..')) add('hostPath', `The source path may not contain "..": ${spec.hostPath}`);
    else if (spec.transport === 'nfs' && !NFS_EXPORT_PATH.test(remote.path)) {
      add('hostPath', `An NFS export path may contain only letters, digits, / and . _ ~ + - (its /etc/exports line has no quoting): ${remote.path}`);
    }
  } else if (!spec.hostPath.startsWith('/')) {
    add('hostPath', `The host path must be an absolute path on the hypervisor host (start with /): ${spec.hostPath}`);
  } else if (spec.hostPath.split('/').includes('..')) {
    add('hostPath', `The host path may not contain "..": ${spec.hostPath}`);
  }

  const can = transportModes[spec.transport];
  const refuse = (mode: MountMode, field: string, override?: number) => {
    if (can.modes.includes(mode)) return;
    add(field, `${spec.transport} cannot honour ${mode}: ${can.why}. It can do ${can.modes.join(' and ')}.`, override);
  };
  refuse(spec.mode, 'mode');
  if (spec.readOnly && spec.mode === 'delegated') {
    add('mode', 'A read-only mount cannot be delegated: the guest writes nothing to write back. Use cached (or consistent).');
  }

  const seen = new Set<string>();
  spec.overrides.forEach((override, i) => {
    const sub = override.subPath.replace(/\/+$/, '');
    if (sub === '' || sub === '.') add('subPath', 'An override needs a subdirectory of the mount (e.g. build).', i);
    else if (sub.startsWith('/')) add('subPath', `An override's subdirectory is relative to the mount, not absolute: ${override.subPath}`, i);
    else if (sub.split('/').some((part) => part === '..' || part === '.' || part === '')) {
      add('subPath', `An override must stay inside its mount (no "..", ".", or empty parts): ${override.subPath}`, i);
    } else if (seen.has(sub)) add('subPath', `Two overrides for ${sub}.`, i);
    seen.add(sub);
    refuse(override.mode, 'mode', i);
    if (spec.readOnly && override.mode === 'delegated') add('mode', 'A read-only mount cannot have a delegated subdirectory.', i);
    if (spec.transport === 'mutagen' && override.mode !== spec.mode) {
      // A Mutagen session may ignore paths but not change mode for them; an override would need a second session whose
      // root is inside the first one's, which Mutagen refuses to nest.
      add('mode', 'Mutagen cannot give a subdirectory another mode inside one sync session; make it its own mount.', i);
    }
  });
  return issues;
}

/** Problems of a whole policy: each mount's, plus two mounts on one guest path. */
export function policyIssues(specs: readonly MountSpec[]): PolicyIssue[] {
  const issues = specs.flatMap((spec, i) => mountIssues(spec, i));
  const byPath = new Map<string, number>();
  specs.forEach((spec, i) => {
    const path = normalizePath(spec.guestPath);
    const other = byPath.get(path);
    if (other !== undefined) issues.push({ mount: i, field: 'guestPath', message: `Two mounts on ${path} (mounts ${other + 1} and ${i + 1}).` });
    else byPath.set(path, i);
    for (const override of spec.overrides) {
      const full = normalizePath(`${path}/${override.subPath}`);
      const clash = specs.findIndex((otherSpec) => normalizePath(otherSpec.guestPath) === full);
      if (clash >= 0) issues.push({ mount: i, field: 'subPath', message: `${full} is both an override of mount ${i + 1} and mount ${clash + 1}.` });
    }
  });
  return issues;
}

export function describeIssue(issue: PolicyIssue, specs?: readonly MountSpec[]): string {
  const where = specs?.[issue.mount] ? normalizePath(specs[issue.mount].guestPath) : `mount ${issue.mount + 1}`;
  return `${where}${issue.override !== undefined ? ` (override ${issue.override + 1})` : ''}: ${issue.message}`;
}

/** Parses and checks one policy; the AppError lists every problem. */
export function validatePolicy(input: unknown[]): MountSpec[] {
  const specs = input.map((item, i) => {
    const parsed = mountSpec.safeParse(item);
    if (!parsed.success) {
      throw new AppError('BAD_INPUT', `Mount ${i + 1}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'value'}: ${issue.message}`).join('; ')}`);
    }
    return { ...parsed.data, guestPath: normalizePath(parsed.data.guestPath) };
  });
  const issues = policyIssues(specs);
  if (issues.length) throw new AppError('BAD_INPUT', issues.map((issue) => describeIssue(issue, specs)).join('\n'));
  return specs;
}

// ---- boxyard.mounts.yaml ----

export const POLICY_FILE = 'boxyard.mounts.yaml';

/**
 * The file format (version 1), kept in the project's repository:
 *
 * ```yaml
 * version: 1
 * mounts:
 *   - guest: /home/dev/app          # absolute path in the box
 *     host: /Users/ann/src/app      # on the hypervisor host; [user@]server:/path for nfs, sshfs, mutagen
 *     transport: virtiofs           # 9p | virtiofs | parallels | nfs | sshfs | mutagen
 *     mode: cached                  # consistent (default) | cached | delegated
 *     readOnly: false               # optional
 *     overrides:                    # optional: subdirectories with their own mode, stacked under the mount
 *       build: delegated
 *       node_modules: delegated
 * ```
 */
export function exportPolicyYaml(specs: readonly MountSpec[]): string {
  const doc = {
    version: 1,
    mounts: specs.map((spec) => ({
      guest: spec.guestPath,
      host: spec.hostPath,
      transport: spec.transport,
      mode: spec.mode,
      ...(spec.readOnly ? { readOnly: true } : {}),
      ...(spec.overrides.length ? { overrides: Object.fromEntries(spec.overrides.map((o) => [o.subPath, o.mode])) } : {}),
    })),
  };
  return `# Boxyard mount policy (${POLICY_FILE}); see the Mounts section of Boxyard's README.\n${stringify(doc, { lineWidth: 0 })}`;
}

/** Parses the file; every error names its line. */
export function importPolicyYaml(text: string): MountSpec[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const startOf = (node: unknown): number | undefined => (node as { range?: readonly number[] } | null | undefined)?.range?.[0];
  const lineOf = (offset: number | undefined) => (offset === undefined ? '?' : String(lineCounter.linePos(offset).line));
  const fail = (line: string, message: string): never => {
    throw new AppError('BAD_INPUT', `${POLICY_FILE} line ${line}: ${message}`);
  };
  const first = doc.errors[0];
  if (first) {
    const line = first instanceof YAMLParseError && first.linePos ? String(first.linePos[0].line) : lineOf(first.pos[0]);
    fail(line, `not valid YAML (${first.message.split('\n')[0]})`);
  }
  const root = doc.contents;
  if (!isMap(root)) return fail(lineOf(startOf(root) ?? 0), 'the file must be a mapping with `version: 1` and `mounts:`');
  const version = (root.toJSON() as Record<string, unknown>).version;
  if (version !== 1) fail(lineOf(startOf(root)), `version must be 1 (got ${JSON.stringify(version ?? null)})`);
  const mountsNode = root.get('mounts', true);
  if (!isSeq(mountsNode)) return fail(lineOf(startOf(root)), '`mounts:` must be a list');
  for (const pair of root.items) {
    const key = (pair.key as { value?: unknown } | null)?.value;
    if (key !== 'version' && key !== 'mounts') fail(lineOf(startOf(pair.key)), `unknown key "${String(key)}" (expected version, mounts)`);
  }
  const specs: MountSpec[] = [];
  const lines: string[] = [];
  mountsNode.items.forEach((item, i) => {
    const line = lineOf(startOf(item));
    if (!isMap(item)) return fail(line, `mount ${i + 1} must be a mapping (guest:, host:, transport:, mode:)`);
    const known = ['guest', 'host', 'transport', 'mode', 'readOnly', 'overrides'];
    for (const pair of item.items) {
      const key = String((pair.key as { value?: unknown }).value);
      if (!known.includes(key)) fail(lineOf(startOf(pair.key)), `unknown key "${key}" in mount ${i + 1} (expected ${known.join(', ')})`);
    }
    const plain = item.toJSON() as Record<string, unknown>;
    const overrides = plain.overrides ?? {};
    if (typeof overrides !== 'object' || Array.isArray(overrides) || overrides === null) {
      fail(lineOf(startOf(item.get('overrides', true))), 'overrides: is a mapping of subdirectory: mode');
    }
    const candidate = {
      guestPath: plain.guest,
      hostPath: plain.host,
      transport: plain.transport,
      mode: plain.mode ?? 'consistent',
      readOnly: plain.readOnly ?? false,
      overrides: Object.entries(overrides as Record<string, unknown>).map(([subPath, mode]) => ({ subPath, mode })),
    };
    const parsed = mountSpec.safeParse(candidate);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = { guestPath: 'guest', hostPath: 'host' }[String(issue.path[0])] ?? String(issue.path[0] ?? 'value');
      const node = field === 'overrides' ? item.get('overrides', true) : item.get(field, true);
      fail(lineOf(startOf(node) ?? startOf(item)), `mount ${i + 1}, ${field}: ${issue.message}`);
    }
    specs.push({ ...parsed.data!, guestPath: normalizePath(parsed.data!.guestPath) });
    lines.push(line);
  });
  const issues = policyIssues(specs);
  if (issues.length) fail(lines[issues[0].mount], describeIssue(issues[0], specs));
  return specs;
}

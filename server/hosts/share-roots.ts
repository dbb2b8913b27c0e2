import type { z } from 'zod';
import { shareRoot } from '../../lib/validation';
import { recordAudit, type Actor } from '../audit/audit';
import type { Db } from '../db/client';
import { sh, type ShellCommand } from '../ssh/quote';
import { AppError } from '../errors';

/**
 * Which folders of a hypervisor host box owners may share into their VMs (9p, virtiofs, Parallels: the transports
 * whose source is a folder of the VM's own host). An admin's decision per host, none by default: a box owner who
 * could name any folder would share `/`, `/root/.ssh` or the other VMs' disk images into their VM.
 *
 * A root is an absolute path whose parts may be the globs `*` and `?`, each matching within one part: `/Users/*` +
 * `/src` allows /Users/ann/src and everything under it, not /Users/ann/other. Checked twice: when a mount is saved
 * (the path as written), and by the apply job against the host's real path of the folder (symlinks resolved on the
 * host), right before it attaches anything.
 */

export type ShareRoots = readonly string[];

export function parseShareRoots(stored: string): string[] {
  const list = JSON.parse(stored) as unknown;
  return Array.isArray(list) ? list.filter((root): root is string => shareRoot.safeParse(root).success) : [];
}

/** One part against one glob part; as in a shell, a glob does not match a leading dot (`/home/*` is not `/home/.ssh`). */
const partMatches = (glob: string, part: string) =>
  !(part.startsWith('.') && /^[*?]/.test(glob)) &&
  new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`, 'u').test(part);

const partsOf = (path: string) => path.split('/').filter(Boolean);

/** True when `path` (absolute, no ".." parts) is a root or under one. */
export function isUnderShareRoot(path: string, roots: ShareRoots): boolean {
  const parts = partsOf(path);
  if (!path.startsWith('/') || parts.some((part) => part === '..' || part === '.')) return false;
  return roots.some((root) => {
    const globs = partsOf(root);
    return globs.length <= parts.length && globs.every((glob, i) => partMatches(glob, parts[i]));
  });
}

/** The plain sentence for a folder outside the roots (the save and the apply job say the same). */
export function outsideRootsMessage(path: string, hostName: string, roots: ShareRoots, real?: string): string {
  const what = real && real !== path ? `${path} (which is ${real} on ${hostName}, symlinks resolved)` : path;
  const allowed = roots.length
    ? `the folders an admin allows to share from ${hostName} are ${roots.join(', ')}`
    : `an admin has not allowed any folder of ${hostName} to be shared yet`;
  return `${what} may not be shared into a VM: ${allowed}. Choose a folder under one of them, or ask an admin to add it on the host's page.`;
}

export async function getShareRoots(db: Db, hostId: string): Promise<{ name: string; roots: string[] }> {
  const host = await db.host.findUnique({ where: { id: hostId }, select: { name: true, shareRoots: true } });
  if (!host) throw new AppError('NOT_FOUND', 'No such host; it may have been deleted.');
  return { name: host.name, roots: parseShareRoots(host.shareRoots) };
}

/** Replaces a host's roots (admins only: the tRPC adminProcedure checks the role); audited with before and after. */
export async function setShareRoots(db: Db, actor: Actor, hostId: string, roots: z.output<typeof shareRoot>[]): Promise<string[]> {
  const before = await getShareRoots(db, hostId);
  const next = [...new Set(roots.map((root) => (root.length > 1 ? root.replace(/\/+$/, '') : root).replace(/\/+/g, '/')))];
  await db.host.update({ where: { id: hostId }, data: { shareRoots: JSON.stringify(next) } });
  await recordAudit(db, { actor, action: 'host.share-roots', detail: { hostId, hostName: before.name, before: before.roots, after: next }, result: 'ok' });
  return next;
}

/**
 * The real path of a folder on the host: every symlink resolved, failing when it does not exist. GNU realpath -e
 * (Linux hosts); macOS's realpath has no -e, so there `cd -P` + `pwd -P` does the same for a folder.
 */
export function realPathCommand(path: string): ShellCommand {
  return sh`if realpath -e / >/dev/null 2>&1; then realpath -e -- ${path}; else cd -P -- ${path} && pwd -P; fi`;
}

/** The command's output as a path: one trailing newline removed (a folder name may itself end in a newline). */
export function parseRealPath(stdout: string): string {
  return stdout.endsWith('\n') ? stdout.slice(0, -1) : stdout;
}

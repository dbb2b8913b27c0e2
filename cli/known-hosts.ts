import path from 'node:path';
import { boxName, pinnedHostKey, type PinnedHostKey } from '../lib/validation';
import { configDirectory } from './credentials';

/**
 * The known_hosts file `boxyard connect` manages: one line per box with the host key the dashboard pinned for it,
 * named by the box (the entries set HostKeyAlias to it, so the line fits a tunnel and a direct entry alike). The
 * entries read this file only, with StrictHostKeyChecking yes: the laptop never trusts a box's key on first use.
 */
export function knownHostsFile(): string {
  return path.join(configDirectory(), 'known_hosts');
}

export interface KnownHost {
  name: string;
  /** null while the dashboard has pinned no key for the box: it gets no line, so ssh refuses its entry. */
  hostKey: PinnedHostKey | null;
}

/**
 * The whole file. Names and keys are checked again here, as sshConfigLines checks its values: a space or a line
 * break would add a host pattern or a key line of someone else's choosing.
 */
export function renderKnownHosts(dashboardUrl: string, boxes: readonly KnownHost[]): string {
  const lines = boxes.flatMap(({ name, hostKey }) => {
    if (!hostKey) return [];
    if (boxName.safeParse(name).data !== name) throw new Error(`the box name ${JSON.stringify(name)} cannot go into known_hosts`);
    const { algorithm, blob } = pinnedHostKey.parse(hostKey);
    return [`${name} ${algorithm} ${blob}`];
  });
  return [
    `# The host keys ${dashboardUrl.replace(/[\p{Cc}]/gu, '')} pinned for your boxes, written by \`boxyard connect\`,`,
    '# which rewrites this whole file on every run: edits here are lost.',
    ...lines,
    '',
  ].join('\n');
}

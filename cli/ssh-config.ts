import { replaceManagedBlock } from '../server/connect/managed-block';
import { sshConfigLines, type ConnectBox } from '../server/connect/snippets';

/** The CLI's block in the developer's ~/.ssh/config; everything outside it is theirs and kept byte for byte. */
export const sshConfigMarkers = {
  begin: '# BEGIN boxyard (managed by `boxyard connect`)',
  end: '# END boxyard',
} as const;

/**
 * `existing` with the boxyard block holding one Host entry per box (a blank line between entries), or without the
 * block when there are no boxes. A new block goes at the end: lines before it (top-level options, Include, Host *)
 * keep their meaning, and since ssh uses the first value it finds, a `Host *` above still wins for what it sets.
 * Throws ManagedBlockError when the markers are duplicated or unbalanced. `proxyCommand`: entries through the
 * dashboard's tunnel (see sshConfigLines); none writes direct entries. `knownHostsFile`: entries that check each
 * box's key against the pinned keys `boxyard connect` writes there (cli/known-hosts.ts).
 */
export function renderSshConfig(existing: string, boxes: readonly ConnectBox[], identityFile?: string, proxyCommand?: string, knownHostsFile?: string): string {
  const lines = boxes.flatMap((box, index) => [...(index ? [''] : []), ...sshConfigLines(box, identityFile, proxyCommand, knownHostsFile)]);
  return replaceManagedBlock(existing, sshConfigMarkers, lines);
}

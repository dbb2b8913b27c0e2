import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sshConfigMarkers } from './ssh-config';

/**
 * The entry `boxyard connect` wrote for a box (Host NAME, between its markers in the ssh config), which `ssh` and
 * `open` go through. Entries the user wrote themselves outside the block are theirs and not looked at.
 */

export interface ConnectEntry {
  /** The box's SSH user, as the entry says. */
  user: string | null;
}

export const sshConfigOption = { type: 'string', value: 'PATH', help: 'the ssh config `boxyard connect` wrote (default ~/.ssh/config)' } as const;

export function sshConfigPath(flag: string | undefined): string {
  return path.resolve(flag ?? path.join(os.homedir(), '.ssh', 'config'));
}

/** The entry for `name` in the managed block of `config` (the file's text); null when there is none. */
export function findConnectEntry(config: string, name: string): ConnectEntry | null {
  const lines = config.split(/\r?\n/).map((line) => line.trim());
  const begin = lines.indexOf(sshConfigMarkers.begin);
  const end = lines.indexOf(sshConfigMarkers.end, begin + 1);
  if (begin < 0 || end < 0) return null;
  const block = lines.slice(begin + 1, end);
  const start = block.findIndex((line) => /^Host\s+/i.test(line) && line.split(/\s+/).slice(1).includes(name));
  if (start < 0) return null;
  const next = block.findIndex((line, index) => index > start && /^Host\s+/i.test(line));
  const entry = block.slice(start + 1, next < 0 ? undefined : next);
  const user = entry.map((line) => /^User\s+(\S+)$/i.exec(line)?.[1]).find((value) => value !== undefined);
  return { user: user ?? null };
}

/** The entry for `name` in the ssh config at `file`; null when the file or the entry does not exist. */
export async function readConnectEntry(file: string, name: string): Promise<ConnectEntry | null> {
  const config = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  return findConnectEntry(config, name);
}

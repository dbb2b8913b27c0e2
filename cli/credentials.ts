import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { UsageError } from './commands';

/**
 * Which dashboard the CLI talks to, and with which token: flags first (--url, --token), then the environment
 * (BOXYARD_URL, BOXYARD_TOKEN), then what `boxyard login` saved in the XDG config folder
 * ($XDG_CONFIG_HOME/boxyard/credentials.json, else ~/.config/boxyard/credentials.json), a 0600 file in a 0700 folder.
 */

const savedCredentials = z.object({
  url: z.string().min(1),
  token: z.string().min(1),
  /** Who the token belongs to, as the dashboard said at login (shown by commands, never trusted for access). */
  email: z.string().optional(),
});
export type Credentials = z.infer<typeof savedCredentials>;

export function configDirectory(): string {
  return path.join(process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'boxyard');
}

export function credentialsFile(): string {
  return path.join(configDirectory(), 'credentials.json');
}

/** The saved login; null when there is none. A file that is not ours is a UsageError naming it, never overwritten silently. */
export async function readCredentials(file = credentialsFile()): Promise<Credentials | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new UsageError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code}); run \`boxyard login URL\` again`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  const parsed = savedCredentials.safeParse(json);
  if (!parsed.success) throw new UsageError(`${file} is not a Boxyard login; remove it and run \`boxyard login URL\``);
  return parsed.data;
}

/** Saves the login atomically: a 0600 temporary file beside it, then rename (a reader never sees half a file). */
export async function saveCredentials(credentials: Credentials, file = credentialsFile()): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify(credentials, null, 2)}\n`, { flag: 'w', mode: 0o600 });
    await chmod(temporary, 0o600); // whatever the umask
    await rename(temporary, file);
  } finally {
    await rm(temporary, { force: true });
  }
}

export async function removeCredentials(file = credentialsFile()): Promise<void> {
  await rm(file, { force: true });
}

/** The dashboard and token a command uses; a UsageError that says how to sign in when neither flags nor a login give them. */
export async function resolveDashboard(flags: { url?: string; token?: string; credentialsFile?: string }): Promise<{ url: string; token: string }> {
  // An empty variable counts as unset, as shells make them.
  const url = flags.url || process.env.BOXYARD_URL || undefined;
  const token = flags.token || process.env.BOXYARD_TOKEN || undefined;
  if (url && token) return { url, token };
  const saved = await readCredentials(flags.credentialsFile);
  // A saved token belongs to its own dashboard: it is never sent to another URL given by flag.
  if (saved && (!url || sameDashboard(url, saved.url))) return { url: saved.url, token: token ?? saved.token };
  if (saved) throw new UsageError(`you are signed in to ${saved.url}, not ${url}: pass --token, or run \`boxyard login ${url}\``);
  throw new UsageError('not signed in: run `boxyard login URL` (or pass --url and --token, or set BOXYARD_URL and BOXYARD_TOKEN)');
}

/** Whether two addresses name the same dashboard (a trailing slash aside). */
export function sameDashboard(a: string, b: string): boolean {
  const origin = (url: string) => {
    try {
      return new URL(url).href.replace(/\/+$/, '');
    } catch {
      return url;
    }
  };
  return origin(a) === origin(b);
}

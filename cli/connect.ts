import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { dashboardAddress } from '../lib/cli-distribution';
import { boxName, hostAddress, pinnedHostKey, sshPort, sshUser } from '../lib/validation';
import { ManagedBlockError } from '../server/connect/managed-block';
import type { CliBox } from '../server/connect/cli-boxes';
import { DEFAULT_IDENTITY_FILE, proxyCommandLine, type ConnectBox } from '../server/connect/snippets';
import { renderKnownHosts } from './known-hosts';
import { credentialsFile, readCredentials, sameDashboard, saveCredentials } from './credentials';
import { renderSshConfig } from './ssh-config';

/** `boxyard connect`: the developer's boxes from the dashboard into ~/.ssh/config and docker contexts. */

export interface ConnectOptions {
  /** The dashboard, e.g. https://boxyard.example.com */
  url: string;
  token: string;
  sshConfigPath: string;
  /** The known_hosts file the entries read (knownHostsFile()), rewritten with the boxes' pinned host keys. */
  knownHostsPath: string;
  /** IdentityFile of every entry; the default placeholder when absent. */
  identityFile?: string;
  dockerContexts: boolean;
  /**
   * Entries go through the dashboard's tunnel (`boxyard proxy`): how to run this CLI. Its ProxyCommand reads the token
   * from the saved login. null writes direct entries (HostName and Port of each box), for laptops that reach them.
   */
  proxy: { cli: readonly string[] } | null;
  /** Prints what would change, changes nothing. */
  dryRun: boolean;
  print: (line: string) => void;
}

/** A failure the user can act on: printed as is, without a stack. */
export class CliError extends Error {}

// The answer is checked with the dashboard's own input rules before anything reaches the ssh config: a value with a
// space or a newline could add options (a ProxyCommand runs anything) to the developer's ssh.
const boxesResponse = z.object({
  user: z.object({ email: z.string() }),
  boxes: z.array(z.object({ name: boxName, host: hostAddress, port: sshPort, user: sshUser, hostKey: pinnedHostKey.nullable() })),
});

/** Requests `route` (a path of the dashboard's, e.g. /api/cli/boxes; GET unless `init` says) at `url`; a bad URL or an unreachable dashboard is a CliError. */
export async function requestDashboard(url: string, route: string, init: RequestInit = {}): Promise<{ endpoint: URL; response: Response }> {
  let endpoint: URL;
  try {
    endpoint = dashboardAddress(url, route);
  } catch {
    throw new CliError(`--url ${url} is not a URL; give the dashboard's address, e.g. https://boxyard.example.com`);
  }
  try {
    return { endpoint, response: await fetch(endpoint, init) };
  } catch (error) {
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, a certificate problem) is its cause.
    const { cause, message } = error as Error;
    throw new CliError(`could not reach the dashboard at ${endpoint.origin}: ${cause instanceof Error ? cause.message : message}`);
  }
}

export async function fetchBoxes(url: string, token: string): Promise<z.output<typeof boxesResponse>> {
  const { endpoint, response } = await requestDashboard(url, '/api/cli/boxes', { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
  const body: unknown = await response.json().catch(() => null);
  const message = (body as { error?: unknown } | null)?.error;
  if (response.status === 401) throw new CliError(`the dashboard refused the token: ${typeof message === 'string' ? message : 'unauthorized'}`);
  if (!response.ok) {
    throw new CliError(`the dashboard answered HTTP ${response.status}${typeof message === 'string' ? `: ${message}` : ''} (is ${url} a Boxyard dashboard?)`);
  }
  const parsed = boxesResponse.safeParse(body);
  if (!parsed.success) throw new CliError(`unexpected answer from ${endpoint.href} (is ${url} a Boxyard dashboard of the same version?)`);
  return parsed.data;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The file's text, '' when it does not exist; refuses bytes that are not UTF-8, which a rewrite could not keep as they are. */
async function readText(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
  try {
    return utf8.decode(bytes);
  } catch {
    throw new CliError(`${file} is not UTF-8 text; left as it is`);
  }
}

/**
 * Writes `content` to `file` atomically (a temporary file beside it, then rename), keeping the file's mode, or 600
 * for a new one, and creating its folder with 700 if missing. A symlinked config (dotfiles) is written through the
 * link, so the link stays.
 */
async function replaceFile(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const target = await realpath(file).catch(() => file);
  const mode = await stat(target).then((stats) => stats.mode & 0o777, () => 0o600);
  const temporary = path.join(path.dirname(target), `.${path.basename(target)}.boxyard-${process.pid}`);
  try {
    await writeFile(temporary, content, { flag: 'wx', mode: 0o600 });
    await chmod(temporary, mode); // exactly the old mode, whatever the umask
    await rename(temporary, target);
  } finally {
    await rm(temporary, { force: true });
  }
}

/** What `connect` did (or, with dryRun, would do), for `--json`. */
export interface ConnectResult {
  email: string;
  boxes: string[];
  sshConfig: { path: string; status: 'unchanged' | 'written' | 'would-write' };
  /** `unpinned`: the boxes without a pinned host key yet, whose entries ssh refuses until the next connect. */
  knownHosts: { path: string; status: 'unchanged' | 'written' | 'would-write'; unpinned: string[] };
  /** One per box; null when the docker CLI is not installed or contexts were left alone. */
  dockerContexts: { name: string; status: 'unchanged' | 'created' | 'updated' | 'would-create' | 'would-update' }[] | null;
}

export async function updateSshConfig(options: ConnectOptions, boxes: readonly ConnectBox[]): Promise<ConnectResult['sshConfig']['status']> {
  const file = options.sshConfigPath;
  const existing = await readText(file);
  let updated: string;
  try {
    const proxyCommand = options.proxy ? proxyCommandLine(options.proxy.cli, options.url, credentialsFile()) : undefined;
    updated = renderSshConfig(existing, boxes, options.identityFile, proxyCommand, options.knownHostsPath);
  } catch (error) {
    if (error instanceof ManagedBlockError) throw new CliError(`${file} cannot be updated safely: ${error.message}`);
    if (options.proxy && error instanceof Error) throw new CliError(`${error.message}; pass --direct for entries without the tunnel`);
    throw error;
  }
  if (updated === existing) {
    options.print(`${file}: already up to date.`);
    return 'unchanged';
  }
  if (options.dryRun) {
    options.print(`${file}: would be rewritten to:`);
    options.print(updated);
    return 'would-write';
  }
  await replaceFile(file, updated);
  options.print(`${file}: wrote ${boxes.length} box(es) between the "# BEGIN boxyard" and "# END boxyard" lines.`);
  return 'written';
}

/**
 * Rewrites the known_hosts file with the pinned key of every box. A box without one yet gets no line, so ssh
 * refuses its entry ("no host key is known") rather than trusting whatever key answers; connect says so.
 */
/** Writes the managed known_hosts file with the pins of `boxes` (atomically; left alone when it says that already). */
export async function writeKnownHosts(file: string, dashboardUrl: string, boxes: readonly CliBox[]): Promise<'unchanged' | 'written'> {
  const updated = renderKnownHosts(dashboardUrl, boxes);
  if ((await readText(file)) === updated) return 'unchanged';
  await replaceFile(file, updated);
  return 'written';
}

export async function updateKnownHosts(options: ConnectOptions, boxes: readonly CliBox[]): Promise<ConnectResult['knownHosts']> {
  const file = options.knownHostsPath;
  const unpinned = boxes.filter((box) => !box.hostKey).map((box) => box.name);
  if (unpinned.length) {
    options.print(
      unpinned.length === 1
        ? `No host key is pinned yet for ${unpinned[0]} (the dashboard has not connected to it), so ssh refuses its entry until the dashboard connects and you run \`boxyard connect\` again.`
        : `No host keys are pinned yet for ${unpinned.join(', ')} (the dashboard has not connected to them), so ssh refuses their entries until the dashboard connects and you run \`boxyard connect\` again.`,
    );
  }
  if (options.dryRun) {
    const updated = renderKnownHosts(options.url, boxes);
    if ((await readText(file)) === updated) return { path: file, status: 'unchanged', unpinned };
    options.print(`${file}: would be rewritten to:`);
    options.print(updated);
    return { path: file, status: 'would-write', unpinned };
  }
  if ((await writeKnownHosts(file, options.url, boxes)) === 'unchanged') return { path: file, status: 'unchanged', unpinned };
  options.print(`${file}: wrote the pinned host keys of ${boxes.length - unpinned.length} box(es).`);
  return { path: file, status: 'written', unpinned };
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the docker CLI; null when it is not installed. */
function docker(args: string[]): Promise<Ran | null> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? resolve(null) : reject(error)));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** One docker context per box, named like it and going through its ssh config entry (so it shares the control master). */
export async function updateDockerContexts(options: ConnectOptions, boxes: readonly ConnectBox[]): Promise<ConnectResult['dockerContexts']> {
  const contexts: NonNullable<ConnectResult['dockerContexts']> = [];
  for (const box of boxes) {
    const host = `ssh://${box.name}`;
    const inspected = await docker(['context', 'inspect', box.name, '--format', '{{.Endpoints.docker.Host}}']);
    if (inspected === null) {
      options.print('docker is not installed (or not on PATH): skipped the docker contexts. Install the docker CLI and run this again.');
      return null;
    }
    const exists = inspected.code === 0;
    if (exists && inspected.stdout.trim() === host) {
      options.print(`docker context ${box.name}: already up to date.`);
      contexts.push({ name: box.name, status: 'unchanged' });
      continue;
    }
    const args = exists ? ['context', 'update', box.name, '--docker', `host=${host}`] : ['context', 'create', box.name, '--docker', `host=${host}`];
    if (options.dryRun) {
      options.print(`would run: docker ${args.join(' ')}`);
      contexts.push({ name: box.name, status: exists ? 'would-update' : 'would-create' });
      continue;
    }
    const ran = (await docker(args))!;
    if (ran.code !== 0) throw new CliError(`docker ${args.slice(0, 2).join(' ')} ${box.name} failed: ${ran.stderr.trim()}`);
    options.print(`docker context ${box.name}: ${exists ? 'updated' : 'created'} (docker --context ${box.name} ps).`);
    contexts.push({ name: box.name, status: exists ? 'updated' : 'created' });
  }
  return contexts;
}

/**
 * The ProxyCommand (`boxyard proxy --url URL --credentials FILE`) takes its token from the saved login, the one file that holds it (never
 * the ssh config, which is often shared or synced): a token given by flag or BOXYARD_TOKEN becomes that login.
 */
async function keepLogin(options: ConnectOptions, email: string): Promise<void> {
  const saved = await readCredentials();
  if (saved && !sameDashboard(saved.url, options.url)) {
    throw new CliError(`the ssh entries would need your login to ${options.url}, and this machine is signed in to ${saved.url}: run \`boxyard login ${options.url}\` first, or pass --direct`);
  }
  if (saved?.token === options.token) return;
  if (options.dryRun) return options.print(`would save the token as your login to ${options.url} in ${credentialsFile()}`);
  await saveCredentials({ url: saved?.url ?? options.url, token: options.token, email });
  options.print(`${credentialsFile()}: saved the token as your login to ${options.url}, for \`boxyard proxy\` (\`boxyard logout\` revokes it).`);
}

export async function connect(options: ConnectOptions): Promise<ConnectResult> {
  const { user, boxes } = await fetchBoxes(options.url, options.token);
  options.print(`${user.email} may reach ${boxes.length} box(es)${boxes.length ? `: ${boxes.map((box) => box.name).join(', ')}` : ''}.`);
  if (!options.identityFile && !existsSync(path.join(os.homedir(), '.ssh', 'id_ed25519'))) {
    options.print(`Note: the entries use ${DEFAULT_IDENTITY_FILE}, which does not exist here; pass --identity-file with the private key whose public half is on your profile.`);
  }
  if (options.proxy) await keepLogin(options, user.email);
  const sshConfig = { path: options.sshConfigPath, status: await updateSshConfig(options, boxes) };
  const knownHosts = await updateKnownHosts(options, boxes);
  const dockerContexts = options.dockerContexts ? await updateDockerContexts(options, boxes) : null;
  return { email: user.email, boxes: boxes.map((box) => box.name), sshConfig, knownHosts, dockerContexts };
}

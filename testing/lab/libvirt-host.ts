// The lab's hypervisor host: a lab box (real sshd in Docker, like testing/lab/lab.ts) that has virsh and virt-clone
// and drives THIS machine's libvirtd through its bind-mounted socket directory. So the product's libvirt driver
// runs exactly as in production (SSH -> virsh -c qemu:///system -> libvirtd -> QEMU), and the QEMU processes run
// on this machine, under TCG (/dev/kvm here crashes guest kernels: every lab domain is <domain type='qemu'>).
//
// How the SSH user may use libvirt: libvirtd here authorizes non-root clients of its read-write socket only
// through polkit, which does not run, so `virsh` and `virt-clone` in the image are wrappers that run the real tools
// through passwordless sudo (dev has NOPASSWD sudo in every lab box anyway). Commands read as usual: `virsh list`.
//
// Paths: LAB_VAR_DIR (/var/lib/boxyard-lab) is bind-mounted at the same absolute path inside and outside, so a
// share folder or a storage-pool volume named by the SSH session is the same file for QEMU. Everything the lab
// defines in libvirt is named `lab-...-<random>` and carries LAB_DOMAIN_MARK in its <description>; helpers here
// refuse to touch other domains.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sshBanner } from '../../server/ssh/banner';
import { until } from '../helpers/wait';
import { startLabBox, type ExecResult, type LabBox } from './lab';

export const LAB_CONNECT_URI = 'qemu:///system';
/** Bind-mounted at the same path into every lab hypervisor host. */
export const LAB_VAR_DIR = '/var/lib/boxyard-lab';
/** Folders shared with guests (9p/virtiofs) live here: the same path for the SSH session and for QEMU. */
export const LAB_SHARES_DIR = `${LAB_VAR_DIR}/shares`;
/** Serial console logs of lab VMs (kept after a failed boot, for the error message). */
export const LAB_LOG_DIR = `${LAB_VAR_DIR}/logs`;
/** Written into every lab domain's <description>; removeDomain() refuses domains without it. */
export const LAB_DOMAIN_MARK = 'boxyard-lab domain';

const HOST_IMAGE = 'boxyard-lab-libvirt:bookworm';
const VM_DIR = fileURLToPath(new URL('./vm/', import.meta.url));

export interface LibvirtHost extends LabBox {
  connectUri: typeof LAB_CONNECT_URI;
}

export interface LibvirtHostOptions {
  namePrefix?: string;
}

export interface LabDomain {
  name: string;
  uuid: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Local tools (this machine): docker and virsh.

function runTool(file: string, args: string[], input?: string, env?: NodeJS.ProcessEnv): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'ENOENT' ? new Error(`boxyard lab: ${file} is not installed; run scripts/test-deps.sh`) : error);
    });
    child.on('close', (code) => resolve({ stdout, stderr, code: code ?? 1 }));
    child.stdin.end(input);
  });
}

/** virsh on this machine (tests run as root), in the C locale so state words are English. */
export function virsh(args: string[]): Promise<ExecResult> {
  return runTool('virsh', ['-c', LAB_CONNECT_URI, ...args], undefined, { ...process.env, LC_ALL: 'C' });
}

/** virsh that throws with its stderr on a non-zero exit. */
export async function virshOk(args: string[]): Promise<string> {
  const result = await virsh(args);
  if (result.code !== 0) {
    throw new Error(`boxyard lab: virsh ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/** Fails loudly when this machine's libvirtd does not answer (the tests never skip for that). */
export async function ensureLibvirtd(): Promise<void> {
  const result = await virsh(['version']).catch((error: Error) => ({ code: 1, stdout: '', stderr: error.message }));
  if (result.code !== 0) {
    throw new Error(`boxyard lab: libvirtd does not answer on ${LAB_CONNECT_URI}; run scripts/test-deps.sh as root (${result.stderr.trim()})`);
  }
}

/** Defines a domain from XML (virsh reads a file: Node's stdin pipe is a socket, which /dev/stdin cannot open). */
export async function defineDomainXml(xml: string): Promise<LabDomain> {
  const dir = await mkdtemp(join(tmpdir(), 'boxyard-lab-xml-'));
  try {
    await writeFile(join(dir, 'domain.xml'), xml);
    await virshOk(['define', '--file', join(dir, 'domain.xml')]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const name = /<name>([^<]+)<\/name>/.exec(xml)?.[1];
  if (!name) throw new Error('boxyard lab: domain XML without <name>');
  return { name, uuid: (await virshOk(['domuuid', '--domain', name])).trim() };
}

/** `lab-<prefix>-<8 hex>`: unique, recognisable, and accepted by libvirt and virt-clone. */
export function labDomainName(prefix = 'domain'): string {
  return `lab-${prefix.replace(/[^A-Za-z0-9_.-]/g, '-')}-${randomBytes(4).toString('hex')}`;
}

export function labDescription(): string {
  return `${LAB_DOMAIN_MARK} (pid ${process.pid})`;
}

/**
 * A throwaway diskless TCG domain (64 MiB, 1 vCPU, no disk, no network): it starts, pauses, managedsaves and
 * restores in well under a second, and since no OS runs it ignores ACPI shutdown requests (a forced stop).
 */
export async function defineEmptyDomain(name = labDomainName('empty')): Promise<LabDomain> {
  if (!name.startsWith('lab-')) throw new Error(`boxyard lab: lab domain names start with lab- (got ${name})`);
  return defineDomainXml(`<domain type='qemu'>
  <name>${name}</name>
  <description>${labDescription()}</description>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <features><acpi/></features>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>
`);
}

/**
 * Powers off and undefines a lab domain with its managed-save image and its storage volumes. Idempotent (a domain
 * that is already gone is fine). Refuses a domain that is not named lab-... and marked as the lab's, so a test can
 * never remove someone else's VM.
 */
export async function removeDomain(nameOrUuid: string): Promise<void> {
  const xml = await virsh(['dumpxml', '--domain', nameOrUuid, '--inactive']);
  if (xml.code !== 0) {
    if (/failed to get domain|Domain not found/i.test(xml.stderr)) return;
    throw new Error(`boxyard lab: virsh dumpxml ${nameOrUuid} failed: ${xml.stderr.trim()}`);
  }
  const name = /<name>([^<]+)<\/name>/.exec(xml.stdout)?.[1] ?? '';
  if (!name.startsWith('lab-') || !xml.stdout.includes(LAB_DOMAIN_MARK)) {
    throw new Error(`boxyard lab: refusing to remove ${name || nameOrUuid}: not a lab domain`);
  }
  const state = (await virsh(['domstate', '--domain', name])).stdout.trim();
  if (state !== 'shut off' && state !== '') await virsh(['destroy', '--domain', name]);
  const undefine = await virsh(['undefine', '--domain', name, '--managed-save', '--remove-all-storage']);
  if (undefine.code !== 0 && !/failed to get domain|Domain not found/i.test(undefine.stderr)) {
    throw new Error(`boxyard lab: virsh undefine ${name} failed: ${undefine.stderr.trim()}`);
  }
  // The serial console log (lab VMs write it under LAB_LOG_DIR); libvirt leaves it behind.
  const serialLog = /<serial type=['"]file['"]>\s*<source path=['"]([^'"]+)/.exec(xml.stdout)?.[1];
  if (serialLog?.startsWith(`${LAB_LOG_DIR}/`)) await rm(serialLog, { force: true });
}

/** A fresh folder under LAB_SHARES_DIR (0777 so QEMU, running as libvirt-qemu, and guests can write to it). */
export async function createShareDir(prefix = 'share'): Promise<string> {
  await mkdir(LAB_SHARES_DIR, { recursive: true, mode: 0o755 });
  const dir = await mkdtemp(join(LAB_SHARES_DIR, `${prefix}-`));
  await chmod(dir, 0o777);
  return dir;
}

// ---------------------------------------------------------------------------------------------------------------
// The hypervisor host container.

let hostImageReady: Promise<void> | undefined;

/** Builds (once, cached by docker) the lab image with virsh: testing/lab/vm/build-host-image.sh. */
export function ensureLibvirtHostImage(): Promise<void> {
  hostImageReady ??= new Promise<void>((resolve, reject) => {
    execFile(join(VM_DIR, 'build-host-image.sh'), { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`boxyard lab: testing/lab/vm/build-host-image.sh failed (exit ${error.code}):\n${stdout}${stderr}`));
      else resolve();
    });
  }).catch((error: unknown) => {
    hostImageReady = undefined;
    throw error;
  });
  return hostImageReady;
}

/** Polls until an SSH banner is readable on 127.0.0.1:port (sshd of a box or a guest). */
export async function waitForSshBanner(port: number, timeoutMs: number, describe: () => Promise<string>): Promise<void> {
  await until(() => sshBanner('127.0.0.1', port, 2_000), `boxyard lab: SSH on 127.0.0.1:${port}`, { timeoutMs, everyMs: 250, describe });
}

/**
 * Starts a lab hypervisor host: a lab box whose `dev` user runs `virsh -c qemu:///system` against this machine's
 * libvirtd. Remove it with remove() (only this container; never removeAllLabBoxes in shared runs).
 */
export async function startLibvirtHost(options: LibvirtHostOptions = {}): Promise<LibvirtHost> {
  await Promise.all([ensureLibvirtHostImage(), ensureLibvirtd(), mkdir(LAB_SHARES_DIR, { recursive: true, mode: 0o755 })]);
  const box = await startLabBox({
    namePrefix: options.namePrefix ?? 'boxyard-lab-libvirt',
    image: HOST_IMAGE,
    dockerArgs: [
      // The directory, not the socket file: a restarted libvirtd makes a new socket, which a file bind would miss.
      '--volume', '/run/libvirt:/run/libvirt',
      '--volume', `${LAB_VAR_DIR}:${LAB_VAR_DIR}`,
    ],
  });
  return { ...box, connectUri: LAB_CONNECT_URI };
}

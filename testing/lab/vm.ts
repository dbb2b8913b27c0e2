// Real guest VMs for tests: Debian bookworm (systemd, sshd, docker.io, rsync) under QEMU TCG, defined in THIS
// machine's libvirtd (qemu:///system), so the product's libvirt driver sees them through a lab hypervisor host
// (testing/lab/libvirt-host.ts). The image is built once per machine by testing/lab/vm/build-vm-image.sh.
//
// Each VM: <domain type='qemu'> (TCG; /dev/kvm here crashes guest kernels), 1 GiB, 2 vCPUs, direct kernel boot of
// the cached kernel/initramfs, root on a per-VM qcow2 overlay (backed by the cached raw image) that is a volume of
// the libvirt dir pool `boxyard-lab`, so virt-clone / vol-clone copy it through libvirt. Networking is QEMU user
// mode with the guest's sshd forwarded to 127.0.0.1:<sshPort> (libvirt 9.0's <interface type='user'> cannot
// forward ports without passt, so the netdev is passed with <qemu:commandline>). Shares: 9p (accessmode mapped or
// passthrough, optionally read-only) and virtiofs with a per-share virtiofsd cache policy (none/auto/always); the
// host folders must be readable by QEMU, so make them with createShareDir() (testing/lab/libvirt-host.ts).
//
// CLONES AND PORTS (read this before cloning): the forwarded port is part of the domain's XML, and libvirt and
// virt-clone copy <qemu:commandline> verbatim. A clone therefore listens on its template's port: it works while
// the template is not running, but two running VMs with one port cannot coexist (the second QEMU fails to start:
// "Could not set up host forwarding rule"). The product's clone flow knows nothing about lab ports, so after
// cloning through the driver call labCloneFixup(cloneName): it gives the clone its own free port (and serial log)
// and returns a LabVm for it. Do it before the clone's first start (a running domain keeps the port it started
// with). Without the fixup, labVmFor(cloneName) reaches the clone on the template's port, which works only while
// neither the template nor another clone of it runs. virt-clone copies the overlay into a full, flattened volume
// (~0.9 GB, ~3 s here); guests make their SSH host keys and machine-id at first boot, so clones of a template that
// never booted differ. A template is just a lab VM defined with template: true and never started.
import { spawn } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { until } from '../helpers/wait';
import type { ExecResult } from './lab';
import {
  defineDomainXml,
  ensureLibvirtd,
  LAB_DOMAIN_MARK,
  LAB_LOG_DIR,
  LAB_VAR_DIR,
  labDescription,
  labDomainName,
  removeDomain,
  virsh,
  virshOk,
  waitForSshBanner,
} from './libvirt-host';

export const LAB_POOL = 'boxyard-lab';
export const LAB_POOL_DIR = `${LAB_VAR_DIR}/pool`;
const VM_DIR = fileURLToPath(new URL('./vm/', import.meta.url));
const BUILD_SCRIPT = join(VM_DIR, 'build-vm-image.sh');
const CACHE_ROOT = process.env.BOXYARD_LAB_VM_CACHE ?? '/var/cache/boxyard-lab/vm';
/** Boot to SSH: ~20 s under TCG on an idle machine, 50-130 s seen while other VMs and tests shared the 2 cores. */
export const LAB_VM_BOOT_TIMEOUT_MS = 240_000;
// Below Linux's ephemeral range (32768+), where docker's published ports and outgoing connections live.
const PORT_RANGE = { min: 20_000, max: 29_999 };

export interface LabVmShare {
  tag: string;
  hostPath: string;
}

/**
 * virtiofsd's cache policy for one share. libvirt 9.0 accepts only <cache mode='none'|'always'/> (checked with
 * virsh define here: 'auto' is "Invalid value for attribute 'mode'"), so 'auto' (virtiofsd's own default) is
 * written as no <cache> element at all.
 */
export type LabVirtiofsCache = 'none' | 'auto' | 'always';

export interface LabVmOptions {
  /** Domain name: lab-<namePrefix>-<8 hex>. */
  namePrefix?: string;
  /** Start it at once (default true; false for a template). */
  start?: boolean;
  shares?: {
    /** 9p; accessmode mapped (default: owners and modes kept in xattrs) or passthrough. */
    ninep?: (LabVmShare & {
      accessmode?: 'mapped' | 'passthrough';
      /** <readonly/> (9p only: libvirt 9.0 refuses it for virtiofs, "virtiofs does not yet support read-only mode"). */
      readOnly?: boolean;
    })[];
    /**
     * virtiofs through Debian's /usr/lib/qemu/virtiofsd (one daemon per share, started by libvirt); adds shared memfd
     * memory backing. cache: that share's virtiofsd cache policy (default 'auto': none in the XML).
     */
    virtiofs?: (LabVmShare & { cache?: LabVirtiofsCache })[];
  };
  /** A template: defined, never started by the lab (implies start: false); clone it, then labCloneFixup. */
  template?: boolean;
  memoryMiB?: number;
  vcpus?: number;
  /**
   * Start dockerd (and load the AppArmor profiles it needs) at boot; default true. false masks them on the kernel
   * command line: under TCG on shared cores they are a large part of the boot's CPU, and a test that only needs
   * the OS (SSH, ACPI, suspend) does not use them. Clones inherit the setting.
   */
  docker?: boolean;
}

export interface LabVm {
  name: string;
  uuid: string;
  host: '127.0.0.1';
  sshPort: number;
  /** Lab key authorized for root and dev in every lab VM (baked into the image). */
  privateKey: string;
  publicKey: string;
  /** Resolves with the milliseconds waited once root can log in with the lab key. */
  waitForSsh(timeoutMs?: number): Promise<number>;
  /** Runs a command as root in the guest over SSH (system ssh client, lab key); stdin optional. */
  exec(command: string, stdin?: string): Promise<ExecResult>;
  /** Adds a public key to dev's authorized_keys (over SSH: the VM must run). */
  authorize(publicKey: string): Promise<void>;
  /** The tail of the guest's serial console (kernel and systemd messages). */
  serialLog(lines?: number): Promise<string>;
  /** Powers off and undefines the domain with its overlay volume and managed-save image. */
  remove(): Promise<void>;
}

export interface LabVmImage {
  dir: string;
  kernel: string;
  initrd: string;
  rootImage: string;
  keyPath: string;
  buildInfo: string;
}

function run(file: string, args: string[], stdin?: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code: code ?? 1 }));
    child.stdin.end(stdin);
  });
}

let imageReady: Promise<LabVmImage> | undefined;

/** Builds the guest image if this machine has none for the current recipe (minutes, once), else about 10 ms. */
export function ensureLabVmImage(): Promise<LabVmImage> {
  imageReady ??= (async () => {
    // The cache folder is named by the same hash the script uses.
    const version = createHash('sha256').update(await readFile(BUILD_SCRIPT)).digest('hex').slice(0, 16);
    const dir = join(CACHE_ROOT, version);
    const result = await run(BUILD_SCRIPT, []);
    if (result.code !== 0) throw new Error(`boxyard lab: testing/lab/vm/build-vm-image.sh failed (exit ${result.code}):\n${result.stdout}${result.stderr}`);
    return {
      dir,
      kernel: join(dir, 'vmlinuz'),
      initrd: join(dir, 'initrd.img'),
      rootImage: join(dir, 'root.img'),
      keyPath: join(dir, 'lab_ed25519'),
      buildInfo: await readFile(join(dir, 'build-info'), 'utf8'),
    };
  })().catch((error: unknown) => {
    imageReady = undefined;
    throw error;
  });
  return imageReady;
}

let poolReady: Promise<void> | undefined;

/** The dir storage pool holding the VMs' overlays; created once, idempotent across parallel test processes. */
export function ensureLabPool(): Promise<void> {
  poolReady ??= (async () => {
    await ensureLibvirtd();
    if ((await virsh(['pool-info', LAB_POOL])).code !== 0) {
      const defined = await virsh(['pool-define-as', LAB_POOL, 'dir', '--target', LAB_POOL_DIR]);
      if (defined.code !== 0 && !/already exists/.test(defined.stderr)) {
        throw new Error(`boxyard lab: virsh pool-define-as ${LAB_POOL} failed: ${defined.stderr.trim()}`);
      }
      await virsh(['pool-build', LAB_POOL]);
      await virsh(['pool-autostart', LAB_POOL]);
    }
    if (!/^State:\s+running/m.test((await virshOk(['pool-info', LAB_POOL])).toString())) {
      const started = await virsh(['pool-start', LAB_POOL]);
      if (started.code !== 0 && !/already active/.test(started.stderr)) {
        throw new Error(`boxyard lab: virsh pool-start ${LAB_POOL} failed: ${started.stderr.trim()}`);
      }
    }
  })().catch((error: unknown) => {
    poolReady = undefined;
    throw error;
  });
  return poolReady;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

const HOSTFWD = /hostfwd=tcp:127\.0\.0\.1:(\d+)-:22/;

/** Ports written into the lab domains' XML (running or not): a stopped VM still owns its port. */
async function portsOfLabDomains(): Promise<Set<number>> {
  const names = (await virshOk(['list', '--all', '--name'])).split('\n').map((name) => name.trim()).filter((name) => name.startsWith('lab-'));
  const ports = new Set<number>();
  for (const name of names) {
    const xml = await virsh(['dumpxml', '--domain', name, '--inactive']);
    const port = HOSTFWD.exec(xml.stdout)?.[1];
    if (port) ports.add(Number(port));
  }
  return ports;
}

async function createVolume(xml: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'boxyard-lab-vol-'));
  try {
    await writeFile(join(dir, 'volume.xml'), xml);
    await virshOk(['vol-create', '--pool', LAB_POOL, '--file', join(dir, 'volume.xml')]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A random port in 20000-29999 that is free now and not written into another lab domain. */
async function pickSshPort(): Promise<number> {
  const taken = await portsOfLabDomains();
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = randomInt(PORT_RANGE.min, PORT_RANGE.max + 1);
    if (!taken.has(port) && (await portIsFree(port))) return port;
  }
  throw new Error('boxyard lab: no free port for a VM in 20000-29999 after 50 tries');
}

function xmlEscape(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');
}

const NO_DOCKER_CMDLINE = ['docker.service', 'docker.socket', 'containerd.service', 'apparmor.service']
  .map((unit) => ` systemd.mask=${unit}`)
  .join('');

function serialLogPath(name: string): string {
  return join(LAB_LOG_DIR, `${name}.serial.log`);
}

function domainXml(options: {
  name: string;
  image: LabVmImage;
  disk: string;
  sshPort: number;
  memoryMiB: number;
  vcpus: number;
  shares: NonNullable<LabVmOptions['shares']>;
  template: boolean;
  docker: boolean;
}): string {
  const { name, image, shares } = options;
  const virtiofs = shares.virtiofs ?? [];
  const filesystems = [
    ...(shares.ninep ?? []).map((share) => `    <filesystem type='mount' accessmode='${share.accessmode ?? 'mapped'}'>
      <source dir='${xmlEscape(share.hostPath)}'/>
      <target dir='${xmlEscape(share.tag)}'/>${share.readOnly ? '\n      <readonly/>' : ''}
    </filesystem>`),
    ...virtiofs.map((share) => {
      const cache = share.cache ?? 'auto';
      if (!['none', 'auto', 'always'].includes(cache)) throw new Error(`boxyard lab: virtiofs cache must be none, auto or always (got ${cache})`);
      const binary = cache === 'auto'
        ? "<binary path='/usr/lib/qemu/virtiofsd'/>"
        : `<binary path='/usr/lib/qemu/virtiofsd'><cache mode='${cache}'/></binary>`;
      return `    <filesystem type='mount' accessmode='passthrough'>
      <driver type='virtiofs'/>
      ${binary}
      <source dir='${xmlEscape(share.hostPath)}'/>
      <target dir='${xmlEscape(share.tag)}'/>
    </filesystem>`;
    }),
  ];
  return `<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>${name}</name>
  <description>${labDescription()}${options.template ? ' template' : ''}</description>
  <memory unit='MiB'>${options.memoryMiB}</memory>
  <vcpu>${options.vcpus}</vcpu>
${virtiofs.length > 0 ? "  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>\n" : ''}  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>${image.kernel}</kernel>
    <initrd>${image.initrd}</initrd>
    <!-- no_timer_check: the kernel's IO-APIC timer check only costs time under TCG. -->
    <cmdline>root=/dev/vda rw console=ttyS0 quiet no_timer_check${options.docker ? '' : NO_DOCKER_CMDLINE}</cmdline>
  </os>
  <features>
    <acpi/>
    <!-- TCG's translation cache defaults to 1 GiB per VM; 256 MiB brought QEMU's RSS from 1.2 GiB to ~720 MiB. -->
    <tcg><tb-cache unit='MiB'>256</tb-cache></tcg>
  </features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='${options.disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
${filesystems.join('\n')}
    <serial type='file'>
      <source path='${serialLogPath(name)}'/>
      <target port='0'/>
    </serial>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-netdev'/>
    <qemu:arg value='user,id=labnet,hostfwd=tcp:127.0.0.1:${options.sshPort}-:22'/>
    <qemu:arg value='-device'/>
    <qemu:arg value='virtio-net-pci,netdev=labnet,bus=pci.0,addr=0x1e'/>
  </qemu:commandline>
</domain>
`;
}

function labVmHandle(name: string, uuid: string, sshPort: number, image: LabVmImage, keys: { privateKey: string; publicKey: string }): LabVm {
  const sshArgs = [
    '-i', image.keyPath, '-p', String(sshPort),
    '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
    '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10',
  ];
  const exec = (command: string, stdin?: string) => run('ssh', [...sshArgs, 'root@127.0.0.1', '--', command], stdin ?? '');
  const serialLog = async (lines = 40) => {
    const text = await readFile(serialLogPath(name), 'utf8').catch(() => '(no serial log)');
    return text.split('\n').slice(-lines).join('\n');
  };
  return {
    name,
    uuid,
    host: '127.0.0.1',
    sshPort,
    ...keys,
    async waitForSsh(timeoutMs = LAB_VM_BOOT_TIMEOUT_MS) {
      const started = Date.now();
      const describe = async () => `domain ${name}: ${(await virsh(['domstate', '--domain', name, '--reason'])).stdout.trim()}\n--- serial console ---\n${await serialLog()}`;
      await waitForSshBanner(sshPort, timeoutMs, describe);
      // The banner comes from sshd before it may authenticate; prove the lab key logs in.
      let lastError = '';
      const loggedIn = async () => {
        const result = await exec('true');
        lastError = result.stderr.trim();
        return result.code === 0;
      };
      await until(loggedIn, `boxyard lab: root login to ${name}`, {
        timeoutMs: Math.max(0, timeoutMs - (Date.now() - started)),
        everyMs: 250,
        describe: async () => `${lastError}\n${await describe()}`,
      });
      return Date.now() - started;
    },
    exec,
    async authorize(publicKey: string) {
      const result = await exec('cat >> /home/dev/.ssh/authorized_keys', `${publicKey.trim()}\n`);
      if (result.code !== 0) throw new Error(`boxyard lab: authorize in ${name} failed: ${result.stderr.trim()}`);
    },
    serialLog,
    async remove() {
      await removeDomain(name);
      await rm(serialLogPath(name), { force: true });
    },
  };
}

async function labKeys(image: LabVmImage) {
  return {
    privateKey: await readFile(image.keyPath, 'utf8'),
    publicKey: (await readFile(`${image.keyPath}.pub`, 'utf8')).trim(),
  };
}

/**
 * Defines (and by default starts) a lab VM. Does not wait for SSH: call waitForSsh() (boots take ~20 s; a test
 * can define several VMs and wait for them together).
 */
export async function startLabVm(options: LabVmOptions = {}): Promise<LabVm> {
  const [image] = await Promise.all([ensureLabVmImage(), ensureLabPool()]);
  const name = labDomainName(options.namePrefix ?? 'vm');
  const volume = `${name}.qcow2`;
  // The overlay's virtual size is the base image's; the guest's ext4 fills it (8 GiB, sparse).
  // By XML: vol-create-as --backing-vol only accepts volumes of a pool, and the cache is not one.
  await createVolume(`<volume><name>${volume}</name><capacity unit='G'>8</capacity>
  <target><format type='qcow2'/></target>
  <backingStore><path>${image.rootImage}</path><format type='raw'/></backingStore>
</volume>`);
  const disk = join(LAB_POOL_DIR, volume);
  let domain;
  try {
    const sshPort = await pickSshPort();
    domain = await defineDomainXml(domainXml({
      name,
      image,
      disk,
      sshPort,
      memoryMiB: options.memoryMiB ?? 1024,
      vcpus: options.vcpus ?? 2,
      shares: options.shares ?? {},
      template: options.template ?? false,
      docker: options.docker ?? true,
    }));
    const vm = labVmHandle(domain.name, domain.uuid, sshPort, image, await labKeys(image));
    if (options.start ?? !options.template) {
      const started = await virsh(['start', '--domain', name]);
      if (started.code !== 0) throw new Error(`boxyard lab: virsh start ${name} failed: ${started.stderr.trim()}`);
    }
    return vm;
  } catch (error) {
    if (domain) await removeDomain(name).catch(() => undefined);
    else await virsh(['vol-delete', '--pool', LAB_POOL, volume]);
    throw error;
  }
}

/**
 * Makes a clone (made by virt-clone, the product's driver, or virsh) reachable on its own port: rewrites the
 * hostfwd port and the serial log path in its persistent XML. Call it while the clone is shut off (a running
 * domain keeps its old port until it restarts). Only lab domains (named lab-..., marked) are touched.
 */
export async function labCloneFixup(nameOrUuid: string): Promise<LabVm> {
  const image = await ensureLabVmImage();
  const xml = await virshOk(['dumpxml', '--domain', nameOrUuid, '--inactive', '--security-info']);
  const name = /<name>([^<]+)<\/name>/.exec(xml)?.[1] ?? '';
  if (!name.startsWith('lab-') || !xml.includes(LAB_DOMAIN_MARK)) throw new Error(`boxyard lab: ${nameOrUuid} is not a lab domain`);
  if (!HOSTFWD.test(xml)) throw new Error(`boxyard lab: ${name} has no lab SSH forwarding in its XML`);
  const sshPort = await pickSshPort();
  const fixed = xml
    .replace(HOSTFWD, `hostfwd=tcp:127.0.0.1:${sshPort}-:22`)
    .replace(/(<serial type=['"]file['"]>\s*<source path=['"])[^'"]*/, `$1${serialLogPath(name)}`);
  const domain = await defineDomainXml(fixed);
  return labVmHandle(domain.name, domain.uuid, sshPort, image, await labKeys(image));
}

/** A LabVm handle for an existing lab domain (e.g. one the product created), without changing it. */
export async function labVmFor(nameOrUuid: string): Promise<LabVm> {
  const image = await ensureLabVmImage();
  const xml = await virshOk(['dumpxml', '--domain', nameOrUuid, '--inactive']);
  const name = /<name>([^<]+)<\/name>/.exec(xml)?.[1] ?? '';
  const uuid = /<uuid>([^<]+)<\/uuid>/.exec(xml)?.[1] ?? '';
  const port = Number(HOSTFWD.exec(xml)?.[1]);
  if (!name.startsWith('lab-') || !port) throw new Error(`boxyard lab: ${nameOrUuid} is not a lab VM`);
  return labVmHandle(name, uuid, port, image, await labKeys(image));
}

/** QEMU's resident memory for a running domain, in MiB (from the pid libvirt records). */
export async function qemuRssMiB(name: string): Promise<number> {
  const pid = (await readFile(`/run/libvirt/qemu/${name}.pid`, 'utf8')).trim();
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return Math.round(kib / 1024);
}

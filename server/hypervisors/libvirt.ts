import { AppError, isAppError } from '../errors';
import type { ExecResult } from '../ssh/pool';
import { sh, type ShellCommand } from '../ssh/quote';
import {
  CLONE_TIMEOUT_MS,
  commandFailed,
  driverContext,
  findCloned,
  guardTransition,
  pickGuestAddress,
  runChecked,
  stopThenForce,
  ToolLocator,
  validateResources,
  validateSharedFolder,
  type DriverContext,
  type GuardedAction,
} from './common';
import type { MountTransport } from '../../lib/validation';
import type {
  DriverCapabilities,
  DriverOptions,
  HostExec,
  HypervisorDriver,
  ResourceChange,
  SharedFolder,
  StopOptions,
  StopResult,
  VmInfo,
  VmRef,
  VmState,
} from './driver';

/**
 * libvirt through `virsh` (and `virt-clone` for clones). Domains are addressed by UUID. Every virsh runs with
 * LC_ALL=C because virsh translates its state words ("shut off", "in shutdown"...) into the host's language.
 */

export interface LibvirtDriverOptions extends DriverOptions {
  /**
   * libvirt connection URI, e.g. qemu:///system. Without it virsh uses its default, which for a non-root SSH
   * user is that user's own qemu:///session, not the system's VMs.
   */
  connectUri?: string;
}

/**
 * virsh's state words (virshDomainState in libvirt's tools/virsh-domain-monitor.c): no state, running, idle,
 * paused, in shutdown, shut off, crashed, pmsuspended. "idle" is a running domain blocked on I/O; a shut-off
 * domain with a managed save image is suspended (it resumes where it was on the next start); pmsuspended is a
 * guest that suspended itself (ACPI S3); a crashed domain must be destroyed before anything else.
 */
export function mapLibvirtState(raw: string, managedSave = false): VmState {
  switch (raw) {
    case 'running':
    case 'idle':
      return 'running';
    case 'paused':
      return 'paused';
    case 'in shutdown':
      return 'stopping';
    case 'shut off':
      return managedSave ? 'suspended' : 'stopped';
    case 'pmsuspended':
      return 'suspended';
    default:
      return 'unknown';
  }
}

/**
 * `virsh dominfo`'s "Key:   value" lines. Several domains' outputs follow each other; each starts with "Id:"
 * (virsh -q drops the blank line between them, so that line is what separates them).
 */
function parseKeyValueBlocks(text: string): Map<string, string>[] {
  const blocks: Map<string, string>[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim();
    if (key === 'Id' || blocks.length === 0) blocks.push(new Map());
    blocks[blocks.length - 1].set(key, line.slice(colon + 1).trim());
  }
  return blocks.filter((fields) => fields.has('UUID'));
}

function kibToMiB(value: string | undefined): number | undefined {
  const match = /^(\d+) KiB$/.exec(value ?? '');
  return match ? Math.round(Number(match[1]) / 1024) : undefined;
}

/** One or more `virsh dominfo` outputs. rawState reads like `virsh domstate --reason` for a saved domain. */
export function parseDominfo(text: string): VmInfo[] {
  return parseKeyValueBlocks(text).map((fields) => {
    const state = fields.get('State') ?? '';
    const managedSave = fields.get('Managed save') === 'yes';
    const info: VmInfo = {
      id: fields.get('UUID') ?? '',
      name: fields.get('Name') ?? '',
      state: mapLibvirtState(state, managedSave),
      rawState: managedSave && state === 'shut off' ? 'shut off (saved)' : state,
    };
    const cpus = Number(fields.get('CPU(s)'));
    if (Number.isInteger(cpus) && cpus > 0) info.cpus = cpus;
    const memoryMiB = kibToMiB(fields.get('Max memory'));
    if (memoryMiB !== undefined) info.memoryMiB = memoryMiB;
    return info;
  });
}

/**
 * `virsh domifaddr` table rows: " vnet0  52:54:00:..  ipv4  192.168.122.3/24"; further addresses of the same
 * interface repeat "-" in the first two columns. The address is the last column.
 */
export function parseDomifaddr(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((columns) => columns.length >= 4 && /^ipv[46]$/.test(columns[columns.length - 2]))
    .map((columns) => columns[columns.length - 1]);
}

/**
 * cpu.time (nanoseconds of host CPU used by the domain) from `virsh domstats --state --cpu-total`, in seconds.
 * null when state.state says no QEMU process exists (0 no state, 5 shut off, 6 crashed): libvirt 9.0 still prints
 * a cpu.time for such a domain (6.44 s for a managed-saved diskless domain that had used 0.16 s), not the VM's.
 */
export function parseDomstatsCpuSeconds(text: string): number | null {
  const state = /^\s*state\.state=(\d+)\s*$/m.exec(text);
  if (state && ['0', '5', '6'].includes(state[1])) return null;
  const match = /^\s*cpu\.time=(\d+)\s*$/m.exec(text);
  return match ? Number(match[1]) / 1e9 : null;
}

/** `virsh list --uuid --name` lines ("uuid name") then `virsh domstats --cpu-total` blocks: host CPU seconds by uuid and by name. */
export function parseVirshCpuTimes(text: string): Map<string, number> {
  const nameToUuid = new Map<string, string>();
  const result = new Map<string, number>();
  let domain: string | null = null;
  for (const line of text.split('\n')) {
    const listed = /^\s*([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\s+(\S.*?)\s*$/i.exec(line);
    if (listed) {
      nameToUuid.set(listed[2]!, listed[1]!);
      continue;
    }
    const header = /^Domain: '(.*)'\s*$/.exec(line);
    if (header) {
      domain = header[1]!;
      continue;
    }
    const time = /^\s*cpu\.time=(\d+)\s*$/.exec(line);
    if (time && domain !== null) {
      const seconds = Number(time[1]) / 1e9;
      result.set(domain, seconds);
      const uuid = nameToUuid.get(domain);
      if (uuid) result.set(uuid, seconds);
    }
  }
  return result;
}

function xmlEscape(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');
}

function xmlUnescape(value: string): string {
  return value
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&apos;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');
}

/**
 * A virtiofs share. The guest mounts it by its tag: `mount -t virtiofs <name> /mnt/...`. virtiofs needs the
 * domain to have shared memory backing (<memoryBacking><source type='memfd'/><access mode='shared'/>); without it
 * the domain refuses to start, which libvirt then reports.
 */
export function sharedFolderXml(folder: SharedFolder): string {
  return [
    "<filesystem type='mount' accessmode='passthrough'>",
    "  <driver type='virtiofs'/>",
    `  <source dir='${xmlEscape(folder.hostPath)}'/>`,
    `  <target dir='${xmlEscape(folder.name)}'/>`,
    ...(folder.readOnly ? ['  <readonly/>'] : []),
    '</filesystem>',
    '',
  ].join('\n');
}

/** Each <filesystem> element of a domain's XML, verbatim, with its target (the guest's tag). */
function filesystems(domainXml: string): { name: string; xml: string }[] {
  return [...domainXml.matchAll(/<filesystem\b[\s\S]*?<\/filesystem>/g)].flatMap((match) => {
    const target = /<target\s+dir=(['"])(.*?)\1/.exec(match[0]);
    return target ? [{ name: xmlUnescape(target[2]), xml: match[0] }] : [];
  });
}

/** The <filesystem> element of a domain's XML whose target (the guest's tag) is `name`, verbatim. */
export function findFilesystemXml(domainXml: string, name: string): string | null {
  return filesystems(domainXml).find((filesystem) => filesystem.name === name)?.xml ?? null;
}

/** Listings retried when a domain vanished mid-listing. */
const LIST_ATTEMPTS = 3;

function domainGone(vm: VmRef, ctx: DriverContext) {
  return (result: ExecResult): AppError | undefined =>
    /failed to get domain|Domain not found/i.test(result.stderr)
      ? new AppError('NOT_FOUND', `${vm.name} is not a VM on ${ctx.where} (any more).`)
      : undefined;
}

/**
 * libvirt refuses to refresh a storage pool while a volume is being built in it (another clone copying its disk, a
 * volume being created), and virt-clone refreshes the pool before it makes anything: a clone started beside another
 * on the same host failed at once. It is tried again until the pool is free, within the clone's time.
 */
function poolBusy(result: ExecResult): boolean {
  return /pool '[^']*' has asynchronous jobs running/.test(result.stderr);
}

const POOL_BUSY_RETRY_MS = 2_000;

export const libvirtCapabilities: DriverCapabilities = {
  vms: true,
  pause: true,
  suspend: true,
  sharedFolders: { transports: ['9p', 'virtiofs'], inPersistentConfig: true, byHandOnly: null },
  hostCpuInOneCall: true,
  hostPower: false,
  snapshots: false,
};

export class LibvirtDriver implements HypervisorDriver {
  readonly kind = 'libvirt' as const;
  readonly capabilities = libvirtCapabilities;
  private readonly ctx: DriverContext;
  private readonly virshTool: ToolLocator;
  private readonly virtCloneTool: ToolLocator;
  private readonly virsh: ShellCommand;
  private readonly connectUri?: string;

  constructor(exec: HostExec, options: LibvirtDriverOptions = {}) {
    this.ctx = driverContext(exec, options);
    this.virshTool = new ToolLocator(this.ctx, 'virsh', 'install libvirt-clients');
    this.virtCloneTool = new ToolLocator(this.ctx, 'virt-clone', 'install virtinst');
    this.connectUri = options.connectUri;
    this.virsh = options.connectUri === undefined ? sh.raw('LC_ALL=C virsh') : sh`LC_ALL=C virsh -c ${options.connectUri}`;
  }

  private async run(args: ShellCommand, what: string, vm?: VmRef, explain?: (result: ExecResult) => AppError | undefined): Promise<string> {
    await this.virshTool.path();
    const gone = vm ? domainGone(vm, this.ctx) : undefined;
    const classify = (result: ExecResult) => explain?.(result) ?? gone?.(result);
    return (await runChecked(this.ctx, sh`${this.virsh} ${args}`, what, { classify })).stdout;
  }

  async version(): Promise<string> {
    return `libvirt ${(await this.run(sh`--version`, 'virsh --version')).trim()}`;
  }

  /**
   * One round trip: dominfo of every domain (names, states, CPUs, memory, managed save) in one script. No
   * unquoted word splitting, which zsh (a possible login shell) does not do; a failing virsh fails the script.
   */
  async listVms(): Promise<VmInfo[]> {
    await this.virshTool.path();
    const script = sh`uuids=$(${this.virsh} list --all --uuid) || exit; printf '%s\\n' "$uuids" | while read -r u; do [ -z "$u" ] || ${this.virsh} dominfo --domain "$u" || exit; done`;
    // A domain undefined between `list` and its `dominfo` (someone else's clone cleanup, seen on a shared lab host)
    // fails the script; a fresh listing no longer names it, so list again a few times before giving up.
    for (let attempt = 1; ; attempt += 1) {
      const vanished = (result: ExecResult) => attempt < LIST_ATTEMPTS && /failed to get domain|Domain not found/i.test(result.stderr);
      const result = await this.ctx.exec(script);
      if (result.code !== 0 && vanished(result)) continue;
      if (result.code !== 0) throw commandFailed(this.ctx, 'Listing the VMs', result);
      return parseDominfo(result.stdout);
    }
  }

  /** One dominfo instead of the whole listing; null when the domain is gone. */
  async findVm(vm: VmRef): Promise<VmInfo | null> {
    try {
      return await this.info(vm);
    } catch (error) {
      if (isAppError(error, 'NOT_FOUND')) return null;
      throw error;
    }
  }

  private async info(vm: VmRef): Promise<VmInfo> {
    const [info] = parseDominfo(await this.run(sh`dominfo --domain ${vm.id}`, `Reading the state of ${vm.name}`, vm));
    if (!info) throw new AppError('REMOTE_COMMAND_FAILED', `virsh dominfo printed nothing readable for ${vm.name}.`);
    return info;
  }

  private async guarded(action: GuardedAction, vm: VmRef): Promise<VmInfo> {
    const info = await this.info(vm);
    guardTransition(action, vm, info.state);
    return info;
  }

  /** Also restores a domain that was suspended with managedsave. */
  async start(vm: VmRef): Promise<void> {
    await this.guarded('start', vm);
    await this.run(sh`start --domain ${vm.id}`, `Starting ${vm.name}`, vm);
  }

  async stop(vm: VmRef, options: StopOptions): Promise<StopResult> {
    await this.guarded('stop', vm);
    return stopThenForce(
      this.ctx,
      {
        // shutdown only sends the request (ACPI or guest agent) and returns at once; destroy pulls the plug.
        requestShutdown: async () => {
          await this.run(sh`shutdown --domain ${vm.id}`, `Shutting down ${vm.name}`, vm);
        },
        readState: async () => (await this.info(vm)).state,
        forceOff: async () => {
          await this.run(sh`destroy --domain ${vm.id}`, `Powering off ${vm.name}`, vm);
        },
      },
      options.timeoutMs,
    );
  }

  /** managedsave writes the memory to disk and stops the domain; the next start restores it. */
  async suspend(vm: VmRef): Promise<void> {
    await this.guarded('suspend', vm);
    // libvirt 9.0 saves a domain by migrating it to a file, and virtiofs (vhost-user-fs) cannot migrate.
    const virtiofs = (result: ExecResult) =>
      /non-migratable device: \S*vhost-user-fs/.test(result.stderr)
        ? new AppError(
            'CONFLICT',
            `${vm.name} has a virtiofs shared folder, and libvirt cannot save such a VM to disk: stop it instead, or pause it to keep it in memory.`,
          )
        : undefined;
    await this.run(sh`managedsave --domain ${vm.id}`, `Suspending ${vm.name}`, vm, virtiofs);
  }

  /** virsh calls pausing "suspend". */
  async pause(vm: VmRef): Promise<void> {
    await this.guarded('pause', vm);
    await this.run(sh`suspend --domain ${vm.id}`, `Pausing ${vm.name}`, vm);
  }

  async resume(vm: VmRef): Promise<void> {
    const info = await this.guarded('resume', vm);
    if (info.rawState === 'pmsuspended') {
      await this.run(sh`dompmwakeup --domain ${vm.id}`, `Waking up ${vm.name}`, vm);
    } else if (info.state === 'suspended') {
      await this.run(sh`start --domain ${vm.id}`, `Restoring ${vm.name}`, vm);
    } else {
      await this.run(sh`resume --domain ${vm.id}`, `Resuming ${vm.name}`, vm);
    }
  }

  async restart(vm: VmRef): Promise<void> {
    await this.guarded('restart', vm);
    await this.run(sh`reboot --domain ${vm.id}`, `Restarting ${vm.name}`, vm);
  }

  /**
   * virt-clone copies the disks (--auto-clone names them after the clone) and needs the original shut off or
   * paused. The name is checked, and the clone read back, by name with one virsh each rather than the whole
   * listing (one virsh per domain), so a clone costs the same on a host with many VMs.
   */
  async clone(template: VmRef, newName: string): Promise<VmInfo> {
    if (newName.trim() === '') throw new AppError('BAD_INPUT', 'The new VM needs a name.');
    await this.virshTool.path();
    if ((await this.ctx.exec(sh`${this.virsh} domuuid --domain ${newName}`)).code === 0) {
      throw new AppError('CONFLICT', `A VM named ${newName} already exists on ${this.ctx.where}.`);
    }
    await this.virtCloneTool.path();
    const connect = this.connectUri === undefined ? sh.raw('') : sh` --connect ${this.connectUri}`;
    // --original takes the domain's name, not its UUID.
    const command = sh`virt-clone${connect} --original ${template.name} --name ${newName} --auto-clone`;
    const deadline = this.ctx.clock.now() + CLONE_TIMEOUT_MS;
    for (;;) {
      const result = await this.ctx.exec(command, { timeoutMs: Math.max(deadline - this.ctx.clock.now(), POOL_BUSY_RETRY_MS) });
      if (result.code === 0) break;
      if (!poolBusy(result) || this.ctx.clock.now() + POOL_BUSY_RETRY_MS > deadline) throw commandFailed(this.ctx, `Cloning ${template.name}`, result);
      await this.ctx.clock.sleep(POOL_BUSY_RETRY_MS);
    }
    const [clone] = parseDominfo(await this.run(sh`dominfo --domain ${newName}`, `Reading the clone ${newName}`));
    return findCloned(clone ? [clone] : [], newName, this.ctx);
  }

  /**
   * Changes the persistent config (--config). The maximum goes first: lowering it also lowers the current value,
   * and raising the current value needs the maximum raised already.
   */
  async setResources(vm: VmRef, change: ResourceChange): Promise<void> {
    validateResources(change);
    await this.guarded('reconfigure', vm);
    const what = `Changing the CPUs or memory of ${vm.name}`;
    if (change.cpus !== undefined) {
      await this.run(sh`setvcpus --domain ${vm.id} --count ${change.cpus} --config --maximum`, what, vm);
      await this.run(sh`setvcpus --domain ${vm.id} --count ${change.cpus} --config`, what, vm);
    }
    if (change.memoryMiB !== undefined) {
      const kib = change.memoryMiB * 1024;
      await this.run(sh`setmaxmem --domain ${vm.id} --size ${kib} --config`, what, vm);
      await this.run(sh`setmem --domain ${vm.id} --size ${kib} --config`, what, vm);
    }
  }

  /** Added to the persistent config: the guest sees it after its next start. */
  async addSharedFolder(vm: VmRef, folder: SharedFolder): Promise<void> {
    validateSharedFolder(folder);
    const xml = folder.device === undefined ? sharedFolderXml(folder) : `${folder.device}\n`;
    await this.deviceFromStdin(sh`attach-device --domain ${vm.id}`, xml, `Sharing ${folder.hostPath} with ${vm.name}`, vm);
  }

  async sharedFolderNames(vm: VmRef, which: 'live' | 'persistent'): Promise<string[]> {
    return filesystems(await this.domainXml(vm, which)).map((filesystem) => filesystem.name);
  }

  /** virtiofs (vhost-user-fs) needs the domain's memory shared with virtiofsd; without it the domain does not start. */
  async sharedFolderProblem(vm: VmRef, transport: MountTransport): Promise<string | null> {
    if (transport !== 'virtiofs' || /<access\s+mode=['"]shared['"]/.test(await this.domainXml(vm, 'persistent'))) return null;
    return `virtiofs needs shared memory backing in ${vm.name}'s domain, which it lacks: add <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking> (virsh edit)`;
  }

  private domainXml(vm: VmRef, which: 'live' | 'persistent'): Promise<string> {
    const inactive = which === 'persistent' ? sh.raw(' --inactive') : sh.raw('');
    return this.run(sh`dumpxml --domain ${vm.id}${inactive}`, `Reading the configuration of ${vm.name}`, vm);
  }

  /** detach-device wants the device's XML, so the share is looked up in the domain's persistent XML first. */
  async removeSharedFolder(vm: VmRef, name: string): Promise<void> {
    const domainXml = await this.domainXml(vm, 'persistent');
    const device = findFilesystemXml(domainXml, name);
    if (!device) throw new AppError('NOT_FOUND', `${vm.name} has no shared folder named ${name}.`);
    await this.deviceFromStdin(sh`detach-device --domain ${vm.id}`, `${device}\n`, `Removing the shared folder ${name} from ${vm.name}`, vm);
  }

  /**
   * Device XML travels on stdin, which virsh reads by opening /dev/stdin. Linux refuses to open that path (ENXIO)
   * when stdin is a socket rather than a pipe: Debian's sshd passes a pipe, but Node's spawn passes a socket and
   * other SSH servers may too, so `cat |` makes it a pipe everywhere.
   */
  private async deviceFromStdin(verb: ShellCommand, xml: string, what: string, vm: VmRef): Promise<void> {
    await this.virshTool.path();
    await runChecked(this.ctx, sh`cat | ${this.virsh} ${verb} --file /dev/stdin --config`, what, { stdin: xml, classify: domainGone(vm, this.ctx) });
  }

  /**
   * Asks libvirt's DHCP leases first, then the host's ARP table (bridged guests), then the guest agent.
   * A source that fails (no agent installed...) just yields nothing.
   */
  async guestIp(vm: VmRef): Promise<string | null> {
    if ((await this.info(vm)).state !== 'running') return null;
    for (const source of ['lease', 'arp', 'agent']) {
      const result = await this.ctx.exec(sh`${this.virsh} domifaddr --domain ${vm.id} --source ${source}`);
      const address = result.code === 0 ? pickGuestAddress(parseDomifaddr(result.stdout)) : null;
      if (address) return address;
    }
    return null;
  }

  /** cpu.time from domstats is the host CPU time of the domain's QEMU process; a shut-off domain has none. */
  async hostCpuSeconds(vm: VmRef): Promise<number | null> {
    return parseDomstatsCpuSeconds(await this.run(sh`domstats --state --cpu-total -- ${vm.id}`, `Reading the CPU time of ${vm.name}`, vm));
  }

  /**
   * Every running domain's cpu.time in one command (all domains at once, cheap on a host with many VMs). A
   * domain without one (not running) reads as null. The output is read even when virsh exits non-zero: the
   * domains it did print are still right.
   */
  async hostCpuSecondsOfMany(vms: readonly VmRef[]): Promise<Map<string, number | null>> {
    const result = await this.ctx.exec(sh`${this.virsh} list --uuid --name; ${this.virsh} domstats --cpu-total --list-active`);
    const times = parseVirshCpuTimes(result.stdout);
    return new Map(vms.map((vm) => [vm.id, times.get(vm.id) ?? null]));
  }
}

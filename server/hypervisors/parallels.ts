import { AppError } from '../errors';
import { sh, type ShellCommand } from '../ssh/quote';
import {
  CLONE_TIMEOUT_MS,
  driverContext,
  ensureNameFree,
  findCloned,
  guardTransition,
  hostCpuSecondsOneByOne,
  parsePsCpuTime,
  pickGuestAddress,
  runChecked,
  stopThenForce,
  ToolLocator,
  validateResources,
  validateSharedFolder,
  type DriverContext,
  type GuardedAction,
} from './common';
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
 * Parallels Desktop through `prlctl` and its JSON output. prlctl works over SSH (unlike utmctl), but it only sees
 * the VMs registered to the user it runs as: Boxyard's SSH user must be the Mac user who owns the VMs.
 */

/**
 * prlctl's state words, from vmstate2str() in prlctl's source (OpenVZ/prlctl, src/Utils.cpp): stopped, starting,
 * restoring, running, paused, resetting, pausing, suspending, stopping, compacting, suspended, snapshoting,
 * continuing, migrating, del_snapshot, resuming, syncing, invalid, reconnecting, mounted; "unknown" otherwise.
 * Maintenance states (compacting, snapshoting, migrating...) say nothing about whether the guest runs: unknown.
 */
const parallelsStates: Record<string, VmState> = {
  running: 'running',
  stopped: 'stopped',
  suspended: 'suspended',
  paused: 'paused',
  starting: 'starting',
  restoring: 'starting',
  resuming: 'starting',
  continuing: 'starting',
  resetting: 'starting',
  stopping: 'stopping',
  suspending: 'stopping',
  syncing: 'stopping',
  pausing: 'stopping',
};

export function mapParallelsState(raw: string): VmState {
  return parallelsStates[raw] ?? 'unknown';
}

/** "16384Mb" (how `prlctl list --info --json` prints Hardware.memory.size) in MiB; null when unreadable. */
export function parseParallelsMemory(size: string): number | null {
  const match = /^(\d+)\s*(kb|mb|gb|tb)?$/i.exec(size.trim());
  if (!match) return null;
  const factor = { kb: 1 / 1024, mb: 1, gb: 1024, tb: 1024 * 1024 }[(match[2] ?? 'mb').toLowerCase() as 'kb' | 'mb' | 'gb' | 'tb'];
  return Math.round(Number(match[1]) * factor);
}

/** prlctl prints UUIDs with braces in some places ("{...}" in the VM process' arguments) and without in JSON. */
function bareId(id: string): string {
  return id.replace(/[{}]/g, '').toLowerCase();
}

interface PrlctlInfoEntry {
  ID?: string;
  Name?: string;
  State?: string;
  Template?: string;
  Hardware?: { cpu?: { cpus?: number }; memory?: { size?: string } };
}

interface PrlctlListEntry {
  uuid?: string;
  name?: string;
  status?: string;
  ip_configured?: string;
  ip?: string;
}

function parseJsonArray<T>(text: string, what: string): T[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AppError('REMOTE_COMMAND_FAILED', `${what} did not print JSON; is this a Parallels Desktop version with --json support?`, {
      internal: text.slice(0, 2000),
    });
  }
  if (!Array.isArray(parsed)) throw new AppError('REMOTE_COMMAND_FAILED', `${what} printed JSON of an unexpected shape.`);
  return parsed as T[];
}

/** `prlctl list --info --json` (one object per VM, "ID"/"Name"/"State"/"Hardware"...). */
export function parsePrlctlInfo(text: string): VmInfo[] {
  return parseJsonArray<PrlctlInfoEntry>(text, 'prlctl list --info').flatMap((entry) => {
    if (!entry.ID || entry.Name === undefined) return [];
    const rawState = entry.State ?? '';
    const memory = entry.Hardware?.memory?.size;
    const info: VmInfo = { id: entry.ID, name: entry.Name, state: mapParallelsState(rawState), rawState };
    const cpus = entry.Hardware?.cpu?.cpus;
    if (typeof cpus === 'number') info.cpus = cpus;
    const memoryMiB = memory === undefined ? null : parseParallelsMemory(memory);
    if (memoryMiB !== null) info.memoryMiB = memoryMiB;
    if (entry.Template !== undefined) info.isTemplate = entry.Template === 'yes';
    return [info];
  });
}

export interface PrlctlStatus {
  id: string;
  name: string;
  rawState: string;
  state: VmState;
  ip: string | null;
}

/**
 * `prlctl list [--all] [--full] --json` (one object per VM: uuid, status, ip_configured, name). The address field
 * holds "-" when there is none, and several space-separated addresses when the VM has more (prlctl's
 * PrlList.cpp); `--full` reports the guest's real addresses.
 */
export function parsePrlctlList(text: string): PrlctlStatus[] {
  return parseJsonArray<PrlctlListEntry>(text, 'prlctl list').flatMap((entry) => {
    if (!entry.uuid) return [];
    const rawState = entry.status ?? '';
    const addresses = (entry.ip ?? entry.ip_configured ?? '-').split(/\s+/);
    return [{ id: entry.uuid, name: entry.name ?? '', rawState, state: mapParallelsState(rawState), ip: pickGuestAddress(addresses) }];
  });
}

export const parallelsCapabilities: DriverCapabilities = {
  vms: true,
  pause: true,
  suspend: true,
  sharedFolders: { transports: ['parallels'], inPersistentConfig: false, byHandOnly: null },
  hostCpuInOneCall: false,
  hostPower: false,
  snapshots: false,
};

export class ParallelsDriver implements HypervisorDriver {
  readonly kind = 'parallels' as const;
  readonly capabilities = parallelsCapabilities;
  private readonly ctx: DriverContext;
  private readonly prlctl: ToolLocator;

  constructor(exec: HostExec, options: DriverOptions = {}) {
    this.ctx = driverContext(exec, options);
    this.prlctl = new ToolLocator(this.ctx, 'prlctl', 'is Parallels Desktop installed?');
  }

  private async run(command: ShellCommand, what: string, timeoutMs?: number): Promise<string> {
    await this.prlctl.path();
    return (await runChecked(this.ctx, command, what, { timeoutMs })).stdout;
  }

  async version(): Promise<string> {
    return (await this.run(sh`prlctl --version`, 'prlctl --version')).trim();
  }

  async listVms(): Promise<VmInfo[]> {
    // With --info prlctl lists every VM whatever its state but no templates, --template lists only templates
    // (PrlSrv::list_vm in OpenVZ/prlctl src/PrlList.cpp), and --full reports the guests' real addresses.
    const vms = parsePrlctlInfo(await this.run(sh`prlctl list --all --info --json`, 'Listing the VMs'));
    const templates = parsePrlctlInfo(await this.run(sh`prlctl list --template --info --json`, 'Listing the templates'));
    const statuses = parsePrlctlList(await this.run(sh`prlctl list --all --full --json`, 'Reading the VMs’ addresses'));
    const ipById = new Map(statuses.map((status) => [bareId(status.id), status.ip]));
    return [
      ...vms.map((vm) => ({ ...vm, isTemplate: vm.isTemplate ?? false, ip: ipById.get(bareId(vm.id)) ?? null })),
      ...templates.map((template) => ({ ...template, isTemplate: true })),
    ];
  }

  private async status(vm: VmRef): Promise<PrlctlStatus> {
    const [status] = parsePrlctlList(await this.run(sh`prlctl list ${vm.id} --full --json`, `Reading the state of ${vm.name}`));
    if (!status) throw new AppError('NOT_FOUND', `${vm.name} is not a VM on ${this.ctx.where} (any more).`);
    return status;
  }

  private async guarded(action: GuardedAction, vm: VmRef): Promise<void> {
    guardTransition(action, vm, (await this.status(vm)).state);
  }

  async start(vm: VmRef): Promise<void> {
    await this.guarded('start', vm);
    await this.run(sh`prlctl start ${vm.id}`, `Starting ${vm.name}`);
  }

  async stop(vm: VmRef, options: StopOptions): Promise<StopResult> {
    await this.guarded('stop', vm);
    return stopThenForce(
      this.ctx,
      {
        // Without --kill, prlctl stop is the polite shutdown (vagrant-parallels' halt uses it so); it may block
        // until the guest is down, so it gets the whole budget as its timeout.
        requestShutdown: async (timeoutMs) => {
          await this.run(sh`prlctl stop ${vm.id}`, `Shutting down ${vm.name}`, timeoutMs);
        },
        readState: async () => (await this.status(vm)).state,
        forceOff: async () => {
          await this.run(sh`prlctl stop ${vm.id} --kill`, `Powering off ${vm.name}`);
        },
      },
      options.timeoutMs,
    );
  }

  async suspend(vm: VmRef): Promise<void> {
    await this.guarded('suspend', vm);
    await this.run(sh`prlctl suspend ${vm.id}`, `Suspending ${vm.name}`);
  }

  async pause(vm: VmRef): Promise<void> {
    await this.guarded('pause', vm);
    await this.run(sh`prlctl pause ${vm.id}`, `Pausing ${vm.name}`);
  }

  async resume(vm: VmRef): Promise<void> {
    await this.guarded('resume', vm);
    await this.run(sh`prlctl resume ${vm.id}`, `Resuming ${vm.name}`);
  }

  async restart(vm: VmRef): Promise<void> {
    await this.guarded('restart', vm);
    await this.run(sh`prlctl restart ${vm.id}`, `Restarting ${vm.name}`);
  }

  async clone(template: VmRef, newName: string): Promise<VmInfo> {
    ensureNameFree(await this.listVms(), newName, this.ctx);
    await this.run(sh`prlctl clone ${template.id} --name ${newName}`, `Cloning ${template.name}`, CLONE_TIMEOUT_MS);
    return findCloned(await this.listVms(), newName, this.ctx);
  }

  async setResources(vm: VmRef, change: ResourceChange): Promise<void> {
    validateResources(change);
    await this.guarded('reconfigure', vm);
    const cpus = change.cpus === undefined ? sh.raw('') : sh` --cpus ${change.cpus}`;
    const memory = change.memoryMiB === undefined ? sh.raw('') : sh` --memsize ${change.memoryMiB}`;
    await this.run(sh`prlctl set ${vm.id}${cpus}${memory}`, `Changing the CPUs or memory of ${vm.name}`);
  }

  async addSharedFolder(vm: VmRef, folder: SharedFolder): Promise<void> {
    validateSharedFolder(folder);
    const mode = folder.readOnly ? sh.raw(' --mode ro') : sh.raw('');
    await this.run(
      sh`prlctl set ${vm.id} --shf-host-add ${folder.name} --path ${folder.hostPath}${mode}`,
      `Sharing ${folder.hostPath} with ${vm.name}`,
    );
  }

  async removeSharedFolder(vm: VmRef, name: string): Promise<void> {
    await this.run(sh`prlctl set ${vm.id} --shf-host-del ${name}`, `Removing the shared folder ${name} from ${vm.name}`);
  }

  /** A share is added to a running VM at once; Boxyard does not read them back. */
  sharedFolderNames: HypervisorDriver['sharedFolderNames'] = async () => {
    throw new AppError('BAD_INPUT', `Boxyard does not read the shared folders of Parallels VMs on ${this.ctx.where} back.`);
  };

  sharedFolderProblem: HypervisorDriver['sharedFolderProblem'] = async () => null;

  async guestIp(vm: VmRef): Promise<string | null> {
    const status = await this.status(vm);
    return status.state === 'running' ? status.ip : null;
  }

  /**
   * Each running VM is a `prl_vm_app` process started as "prl_vm_app --vm-name <name> --uuid {<uuid>} ..."
   * (seen in public process listings), so its CPU time is the `time` column of that line in `ps`.
   */
  async hostCpuSeconds(vm: VmRef): Promise<number | null> {
    await this.prlctl.path();
    const listing = await runChecked(this.ctx, sh`ps -axww -o time=,command=`, 'Listing the host’s processes');
    return findVmProcessCpuSeconds(listing.stdout, vm.id);
  }

  hostCpuSecondsOfMany: HypervisorDriver['hostCpuSecondsOfMany'] = (vms) => hostCpuSecondsOneByOne(this, vms);
}

/** The CPU time of the prl_vm_app process running the VM with this id, from `ps -o time=,command=` lines. */
export function findVmProcessCpuSeconds(psOutput: string, vmId: string): number | null {
  const marker = `--uuid {${bareId(vmId)}}`;
  for (const line of psOutput.split('\n')) {
    const match = /^\s*(\S+)\s+(.*)$/.exec(line);
    if (match && match[2].includes('prl_vm_app') && match[2].toLowerCase().includes(marker)) return parsePsCpuTime(match[1]);
  }
  return null;
}

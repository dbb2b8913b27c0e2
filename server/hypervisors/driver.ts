import type { ExecResult, OutputListener } from '../ssh/pool';
import type { ShellCommand } from '../ssh/quote';

/**
 * The driver layer for hypervisor hosts: one interface over Parallels Desktop (prlctl), UTM (utmctl), libvirt
 * (virsh) and plain SSH boxes. Drivers only build commands and read their output; they run everything through a
 * HostExec, which is the SSH pool in production and a scripted executor in unit tests.
 */

import type { HypervisorKind, MountTransport } from '../../lib/validation';

export { hypervisorKinds, type HypervisorKind } from '../../lib/validation';

/**
 * One state model for every hypervisor. Each driver maps its own words onto it and keeps them in rawState.
 * `suspended` = state saved (to disk) and the VM no longer runs; `paused` = frozen but still holding its memory.
 * `starting`/`stopping` cover every transition (resuming, suspending, shutting down...).
 */
export const vmStates = ['running', 'stopped', 'suspended', 'paused', 'starting', 'stopping', 'unknown'] as const;
export type VmState = (typeof vmStates)[number];

export interface VmInfo {
  /** The hypervisor's own identifier (a UUID for all three); operations address VMs by it. */
  id: string;
  name: string;
  state: VmState;
  /** The hypervisor's word for the state, e.g. "shut off" or "started". */
  rawState: string;
  cpus?: number;
  memoryMiB?: number;
  /** undefined: this listing does not report addresses (ask guestIp); null: the VM has none right now. */
  ip?: string | null;
  isTemplate?: boolean;
}

/** What an operation needs to know about a VM: the id to address it, the name to talk about it. */
export type VmRef = Pick<VmInfo, 'id' | 'name'>;

export interface HostExecOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  stdin?: string;
  onOutput?: OutputListener;
}

/** Runs one command on the host; a non-zero exit is a result, connection problems throw (as SshPool.exec does). */
export type HostExec = (command: ShellCommand, options?: HostExecOptions) => Promise<ExecResult>;

export interface StopOptions {
  /** How long the guest gets to shut down after the polite request before the VM is powered off. */
  timeoutMs: number;
}

export interface StopResult {
  /** graceful: the guest shut down by itself in time; forced: it was powered off after the timeout. */
  outcome: 'graceful' | 'forced';
}

export interface ResourceChange {
  cpus?: number;
  memoryMiB?: number;
}

export interface SharedFolder {
  /** The name the guest sees (the mount tag for libvirt). */
  name: string;
  /** Absolute path on the hypervisor host. */
  hostPath: string;
  readOnly: boolean;
  /**
   * The hypervisor's own description of the share when the caller compiled one (libvirt: the <filesystem> XML of
   * mounts/compile.ts, with its transport and cache options); without it the driver writes its default.
   */
  device?: string;
}

/**
 * What a driver can do, as data: callers (rules, the mount recipe, the host-CPU sampler, the browser through the
 * host view) ask this instead of branching on the kind. Each driver file declares its own.
 */
export interface DriverCapabilities {
  /** The host runs VMs Boxyard can list and act on (false: a plain SSH machine). */
  vms: boolean;
  /** Freezes a VM in memory, apart from suspending it. */
  pause: boolean;
  /** Saves a VM's state so it stops using CPU and memory. */
  suspend: boolean;
  sharedFolders: SharedFolderCapabilities;
  /** hostCpuSecondsOfMany reads every VM of the host with one command (otherwise one command per VM). */
  hostCpuInOneCall: boolean;
  /** Reboots and powers off the host itself (HostPowerControl). */
  hostPower: boolean;
  snapshots: false;
}

export interface SharedFolderCapabilities {
  /** The mount transports whose folders the driver adds to a VM; empty when Boxyard cannot add any. */
  transports: readonly MountTransport[];
  /**
   * true: a share goes into the VM's persistent configuration, which only a stopped VM takes (libvirt; seen at its
   * next start), and sharedFolderNames lists what a VM has. false: added at once, and not listed (Parallels).
   */
  inPersistentConfig: boolean;
  /** Why Boxyard cannot add shared folders, and where the user adds them instead; null when it can. */
  byHandOnly: string | null;
}

export interface HypervisorDriver {
  readonly kind: HypervisorKind;
  readonly capabilities: DriverCapabilities;
  /** The management tool's own version line. */
  version(): Promise<string>;
  listVms(): Promise<VmInfo[]>;
  /**
   * One VM as listVms would show it, or null when the host has no such VM (any more). Optional: drivers whose
   * listing costs one command per VM (libvirt) offer it so a lifecycle job need not list every VM to see one.
   */
  findVm?(vm: VmRef): Promise<VmInfo | null>;
  start(vm: VmRef): Promise<void>;
  /** Asks the guest to shut down, waits up to timeoutMs, then powers the VM off; says which happened. */
  stop(vm: VmRef, options: StopOptions): Promise<StopResult>;
  /** Saves the VM's state so it stops using CPU and memory; resume brings it back. */
  suspend(vm: VmRef): Promise<void>;
  /** Freezes the VM in memory; resume unfreezes it. */
  pause(vm: VmRef): Promise<void>;
  /** Brings back a suspended or paused VM. */
  resume(vm: VmRef): Promise<void>;
  restart(vm: VmRef): Promise<void>;
  /** Makes a new VM from a template (or any VM) and returns it as the hypervisor lists it. */
  clone(template: VmRef, newName: string): Promise<VmInfo>;
  /** Only on a stopped VM. */
  setResources(vm: VmRef, change: ResourceChange): Promise<void>;
  addSharedFolder(vm: VmRef, folder: SharedFolder): Promise<void>;
  removeSharedFolder(vm: VmRef, name: string): Promise<void>;
  /**
   * The names of the VM's shared folders, as it runs now (live) or as it will next start (persistent); only where
   * capabilities.sharedFolders.inPersistentConfig, refused elsewhere.
   */
  sharedFolderNames(vm: VmRef, which: 'live' | 'persistent'): Promise<string[]>;
  /** Why the VM's configuration cannot take a shared folder of this transport, in words; null when it can. */
  sharedFolderProblem(vm: VmRef, transport: MountTransport): Promise<string | null>;
  /** The guest's reachable address (IPv4 before IPv6, never link-local); null when it has none or is not running. */
  guestIp(vm: VmRef): Promise<string | null>;
  /**
   * Cumulative host-side CPU time of the VM, in seconds, for telling idle VMs apart; null when the VM does not
   * run or the host offers no way to measure it (see each driver).
   */
  hostCpuSeconds(vm: VmRef): Promise<number | null>;
  /**
   * hostCpuSeconds of several VMs, by VM id: one command where capabilities.hostCpuInOneCall, otherwise one per VM
   * (a VM that cannot be read counts as null, not as a failure of the others).
   */
  hostCpuSecondsOfMany(vms: readonly VmRef[]): Promise<Map<string, number | null>>;
}

/** Power control of the host itself; only the plain SSH driver offers it (the caller confirms first). */
export interface HostPowerControl {
  rebootHost(): Promise<void>;
  powerOffHost(): Promise<void>;
}

/** Time as drivers see it, so the stop-then-force path can be tested without waiting. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface DriverOptions {
  /** The host's name as the user knows it; every message names it. */
  hostName?: string;
  clock?: Clock;
  /** How often stop() looks at the VM while the guest shuts down. */
  stopPollIntervalMs?: number;
}

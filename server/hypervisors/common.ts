import { AppError, isAppError } from '../errors';
import type { ExecResult } from '../ssh/pool';
import { sh, type ShellCommand } from '../ssh/quote';
import {
  systemClock,
  type Clock,
  type DriverOptions,
  type HostExec,
  type HypervisorDriver,
  type HostExecOptions,
  type ResourceChange,
  type SharedFolder,
  type StopResult,
  type VmInfo,
  type VmRef,
  type VmState,
} from './driver';

/** Helpers every driver shares: running commands with plain-worded failures, state guards, stop-then-force. */

const DEFAULT_STOP_POLL_MS = 2_000;
/** Cloning copies disks: far beyond the pool's default command budget. */
export const CLONE_TIMEOUT_MS = 30 * 60_000;

export interface DriverContext {
  exec: HostExec;
  /** How messages name the host: "host mini", or "the host" when no name was given. */
  where: string;
  clock: Clock;
  stopPollIntervalMs: number;
}

export function driverContext(exec: HostExec, options: DriverOptions = {}): DriverContext {
  return {
    exec,
    where: options.hostName === undefined ? 'the host' : `host ${options.hostName}`,
    clock: options.clock ?? systemClock,
    stopPollIntervalMs: options.stopPollIntervalMs ?? DEFAULT_STOP_POLL_MS,
  };
}

/** The tool's own reason for a failure: its last stderr line (stdout when stderr is empty), without "error: ". */
export function toolReason(result: Pick<ExecResult, 'stdout' | 'stderr'>): string {
  const lines = (result.stderr.trim() || result.stdout.trim()).split('\n').map((line) => line.trim()).filter(Boolean);
  const last = lines.at(-1)?.replace(/^error:\s*/i, '') ?? '';
  return last.length > 300 ? `${last.slice(0, 300)}…` : last;
}

export function commandFailed(ctx: DriverContext, what: string, result: ExecResult): AppError {
  const reason = toolReason(result);
  const exit = result.code === null ? `signal ${result.signal ?? '?'}` : `exit code ${result.code}`;
  return new AppError('REMOTE_COMMAND_FAILED', `${what} failed on ${ctx.where}: ${reason || exit}`, {
    internal: `${exit}; stderr: ${result.stderr.slice(0, 4000)}`,
  });
}

/**
 * Runs a command and returns its result when it exited 0. Otherwise `classify` may turn the result into a more
 * specific error (VM not found...); the fallback names what failed and quotes the tool.
 */
export async function runChecked(
  ctx: DriverContext,
  command: ShellCommand,
  what: string,
  options: HostExecOptions & { classify?: (result: ExecResult) => AppError | undefined } = {},
): Promise<ExecResult> {
  const { classify, ...execOptions } = options;
  const result = await ctx.exec(command, execOptions);
  if (result.code === 0) return result;
  throw classify?.(result) ?? commandFailed(ctx, what, result);
}

/**
 * Finds the management tool once per driver with `command -v`, so a host without it gets one plain sentence
 * instead of "sh: prlctl: not found" from every command. A success is remembered; a failure is not (the tool
 * may be installed meanwhile).
 */
export class ToolLocator {
  private found: Promise<string> | null = null;

  constructor(
    private readonly ctx: DriverContext,
    private readonly tool: string,
    /** Completes "<tool> not found on host X: ...". */
    private readonly hint: string,
  ) {}

  /** The tool's path on the host; throws the plain message when it is missing. */
  path(): Promise<string> {
    this.found ??= this.locate().catch((error: unknown) => {
      this.found = null;
      throw error;
    });
    return this.found;
  }

  private async locate(): Promise<string> {
    const result = await this.ctx.exec(sh`command -v ${this.tool}`);
    const path = result.stdout.trim().split('\n')[0] ?? '';
    if (result.code !== 0 || path === '') {
      throw new AppError('REMOTE_COMMAND_FAILED', `${this.tool} not found on ${this.ctx.where}: ${this.hint}`, {
        internal: `command -v ${this.tool}: exit ${result.code}; ${result.stderr.slice(0, 500)}`,
      });
    }
    return path;
  }
}

const stateWords: Record<VmState, string> = {
  running: 'running',
  stopped: 'stopped',
  suspended: 'suspended',
  paused: 'paused',
  starting: 'starting',
  stopping: 'shutting down',
  unknown: 'in an unknown state',
};

/** The state in words for sentences: "web-1 is shutting down". */
export function describeState(state: VmState): string {
  return stateWords[state];
}

export type GuardedAction = 'start' | 'stop' | 'suspend' | 'pause' | 'resume' | 'restart' | 'reconfigure';

/**
 * For each action, the states in which it is refused and why. An unknown state is never refused: the tool
 * itself then decides, which beats blocking on a state word we have not seen.
 */
const refusals: Record<GuardedAction, Partial<Record<VmState, string>>> = {
  start: {
    running: 'is already running',
    starting: 'is already starting',
    paused: 'is paused: resume it instead of starting it',
    stopping: 'is shutting down: start it once it has stopped',
  },
  stop: {
    stopped: 'is already stopped',
    stopping: 'is already shutting down',
    suspended: 'is suspended: resume it before stopping it',
  },
  suspend: {
    stopped: 'is stopped: only a running VM can be suspended',
    suspended: 'is already suspended',
    starting: 'is starting: suspend it once it runs',
    stopping: 'is shutting down',
  },
  pause: {
    stopped: 'is stopped: only a running VM can be paused',
    suspended: 'is suspended: only a running VM can be paused',
    paused: 'is already paused',
    starting: 'is starting: pause it once it runs',
    stopping: 'is shutting down',
  },
  resume: {
    running: 'is already running',
    starting: 'is already starting',
    stopped: 'is stopped: start it instead of resuming it',
    stopping: 'is shutting down',
  },
  restart: {
    stopped: 'is stopped: start it instead of restarting it',
    suspended: 'is suspended: resume it before restarting it',
    paused: 'is paused: resume it before restarting it',
    starting: 'is starting',
    stopping: 'is shutting down',
  },
  reconfigure: {},
};

/** Throws a CONFLICT with a plain sentence when `action` makes no sense in `state`. */
export function guardTransition(action: GuardedAction, vm: VmRef, state: VmState): void {
  if (action === 'reconfigure') {
    // CPUs and memory change only on a stopped VM; here even "unknown" is refused, as a running VM could break.
    if (state !== 'stopped') {
      throw new AppError('CONFLICT', `${vm.name} is ${stateWords[state]}: stop it before changing its CPUs or memory.`);
    }
    return;
  }
  const reason = refusals[action][state];
  if (reason) throw new AppError('CONFLICT', `${vm.name} ${reason}.`);
}

export function validateResources(change: ResourceChange): void {
  if (change.cpus === undefined && change.memoryMiB === undefined) {
    throw new AppError('BAD_INPUT', 'Say how many CPUs or how much memory the VM should have.');
  }
  if (change.cpus !== undefined && !(Number.isInteger(change.cpus) && change.cpus >= 1 && change.cpus <= 1024)) {
    throw new AppError('BAD_INPUT', 'The number of CPUs must be a whole number from 1 to 1024.');
  }
  if (change.memoryMiB !== undefined && !(Number.isInteger(change.memoryMiB) && change.memoryMiB >= 64)) {
    throw new AppError('BAD_INPUT', 'Memory must be a whole number of MiB, at least 64.');
  }
}

export function validateSharedFolder(folder: SharedFolder): void {
  if (folder.name.trim() === '' || folder.name.includes('/')) {
    throw new AppError('BAD_INPUT', 'A shared folder needs a name without slashes.');
  }
  if (!folder.hostPath.startsWith('/')) {
    throw new AppError('BAD_INPUT', `The host path of a shared folder must be absolute (start with /): ${folder.hostPath}`);
  }
}

/** One VM by id, or null when gone: the driver's single-VM lookup where it has one, else its listing. */
export async function lookUpVm(driver: HypervisorDriver, vm: VmRef): Promise<VmInfo | null> {
  if (driver.findVm) return driver.findVm(vm);
  return (await driver.listVms()).find((info) => info.id === vm.id) ?? null;
}

/** hostCpuSecondsOfMany for drivers that read one VM per command: one after the other, an unreadable VM as null. */
export async function hostCpuSecondsOneByOne(driver: Pick<HypervisorDriver, 'hostCpuSeconds'>, vms: readonly VmRef[]): Promise<Map<string, number | null>> {
  const seconds = new Map<string, number | null>();
  for (const vm of vms) seconds.set(vm.id, await driver.hostCpuSeconds(vm).catch(() => null));
  return seconds;
}

export interface StopSteps {
  /** The polite request (ACPI power button or the guest tools); gets the whole budget as its own timeout. */
  requestShutdown(timeoutMs: number): Promise<void>;
  readState(): Promise<VmState>;
  /** Pulls the plug. */
  forceOff(): Promise<void>;
}

/**
 * Asks the guest to shut down, watches until it has stopped or `timeoutMs` has passed, then powers it off.
 * A polite request that fails or hangs is not fatal: the VM is then forced off, which is what the caller asked
 * for in the end. Connection problems still throw.
 */
export async function stopThenForce(ctx: DriverContext, steps: StopSteps, timeoutMs: number): Promise<StopResult> {
  const deadline = ctx.clock.now() + timeoutMs;
  let requested = true;
  try {
    await steps.requestShutdown(timeoutMs);
  } catch (error) {
    if (!isAppError(error, 'REMOTE_COMMAND_FAILED') && !isAppError(error, 'SSH_TIMEOUT')) throw error;
    requested = false;
  }
  while (requested) {
    if ((await steps.readState()) === 'stopped') return { outcome: 'graceful' };
    const remaining = deadline - ctx.clock.now();
    if (remaining <= 0) break;
    await ctx.clock.sleep(Math.min(ctx.stopPollIntervalMs, remaining));
  }
  await steps.forceOff();
  return { outcome: 'forced' };
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
/** IPv4-mapped IPv6, as Parallels may print it: "0:0:0:0:0:FFFF:0AD3:3742" is 10.211.55.66. */
const IPV4_MAPPED_HEX = /^(?:(?:0{1,4}:){5}|::)ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i;
const IPV4_MAPPED_DOTTED = /^(?:(?:0{1,4}:){5}|::)ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * One reported address in its plain form: no "/24" prefix length, no trailing dot (Parallels has printed
 * "0:0:0:0:0:FFFF:0AD3:3742."), and an IPv4-mapped IPv6 address as the IPv4 address it carries.
 */
export function normalizeAddress(reported: string): string {
  const address = reported.trim().replace(/\/\d+$/, '').replace(/\.$/, '');
  const dotted = IPV4_MAPPED_DOTTED.exec(address);
  if (dotted) return dotted[1];
  const hex = IPV4_MAPPED_HEX.exec(address);
  if (!hex) return address;
  const [high, low] = [parseInt(hex[1], 16), parseInt(hex[2], 16)];
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

/**
 * The address the dashboard should use, from what a tool reported: IPv4 before IPv6, and never a link-local
 * (169.254/16, fe80::/10), loopback or unspecified address, which nothing outside the guest can reach.
 * "-" (prlctl's "none") and empty entries are skipped.
 */
export function pickGuestAddress(candidates: readonly string[]): string | null {
  const usable = candidates.map(normalizeAddress).filter((address) => {
    if (IPV4.test(address)) return !address.startsWith('169.254.') && !address.startsWith('127.') && address !== '0.0.0.0';
    const lower = address.toLowerCase();
    return lower.includes(':') && !/^fe[89ab]/.test(lower) && lower !== '::1' && lower !== '::';
  });
  return usable.find((address) => IPV4.test(address)) ?? usable[0] ?? null;
}

/**
 * `ps -o time` as seconds: "[DD-][HH:]MM:SS[.cc]" (procps prints "00:01:02", macOS "1:02.03" with minutes
 * that keep counting past 59; both read right as base-60 groups).
 */
export function parsePsCpuTime(text: string): number | null {
  const match = /^(?:(\d+)-)?([\d:.]+)$/.exec(text.trim());
  if (!match) return null;
  const groups = match[2].split(':');
  if (groups.length < 2 || groups.length > 3 || groups.some((group) => !/^\d+(\.\d+)?$/.test(group))) return null;
  const seconds = groups.reduce((total, group) => total * 60 + Number(group), 0);
  return Number(match[1] ?? 0) * 86_400 + seconds;
}

/** Refuses a clone whose name is taken, so the new VM can be found by its name afterwards. */
export function ensureNameFree(vms: readonly VmInfo[], newName: string, ctx: DriverContext): void {
  if (newName.trim() === '') throw new AppError('BAD_INPUT', 'The new VM needs a name.');
  if (vms.some((vm) => vm.name === newName)) {
    throw new AppError('CONFLICT', `A VM named ${newName} already exists on ${ctx.where}.`);
  }
}

export function findCloned(vms: readonly VmInfo[], newName: string, ctx: DriverContext): VmInfo {
  const clone = vms.find((vm) => vm.name === newName);
  if (!clone) {
    throw new AppError('REMOTE_COMMAND_FAILED', `The clone finished but ${newName} does not appear in the VM list of ${ctx.where}.`);
  }
  return clone;
}

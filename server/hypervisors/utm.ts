import { AppError } from '../errors';
import type { ExecResult } from '../ssh/pool';
import { sh, type ShellCommand } from '../ssh/quote';
import {
  CLONE_TIMEOUT_MS,
  commandFailed,
  driverContext,
  ensureNameFree,
  findCloned,
  guardTransition,
  hostCpuSecondsOneByOne,
  pickGuestAddress,
  stopThenForce,
  ToolLocator,
  type DriverContext,
  type GuardedAction,
} from './common';
import type { DriverCapabilities, DriverOptions, HostExec, HypervisorDriver, StopOptions, StopResult, VmInfo, VmRef, VmState } from './driver';

/**
 * UTM through `utmctl` (utmapp/UTM, utmctl/UTMCtl.swift). utmctl drives UTM.app with Apple Events, which macOS
 * only delivers inside the logged-in user's desktop (Aqua) session; from a plain SSH session they fail with
 * OSStatus -1743 and utmctl adds "NOTE: utmctl does not work from SSH sessions or before logging in."
 * (utmapp/UTM issues #5001, #5377, #5557). So every utmctl call is run inside that session with
 * `launchctl asuser <uid of the console user>`, the usual macOS admin way to reach a user's GUI session.
 *
 * Not verified on a Mac: that utmctl's Apple Events go through when started this way (public sources only show
 * the asuser idiom for other GUI tools; UTM's own issue #5377 is still open), and that `launchctl asuser` of
 * one's own uid works without root. When it fails, the error says what to do.
 */

/** Printed by our wrapper when nobody is logged in to the Mac's desktop. */
const NO_DESKTOP_MARKER = 'boxyard-utm: nobody is logged in to the desktop';
/** restart() has no timeout of its own: this long for the guest to shut down before it is forced off. */
const RESTART_STOP_TIMEOUT_MS = 60_000;
/** Where utmctl itself looks for UTM when it is not run from inside the bundle (UTMCtl.swift, utmAppUrl). */
const UTM_APP_INFO = '/Applications/UTM.app/Contents/Info';

/** utmctl's state words, from UTMScriptingStatus.asString in UTMCtl.swift. */
const utmStates: Record<string, VmState> = {
  stopped: 'stopped',
  starting: 'starting',
  started: 'running',
  pausing: 'stopping',
  paused: 'paused',
  resuming: 'starting',
  stopping: 'stopping',
};

export function mapUtmState(raw: string): VmState {
  return utmStates[raw] ?? 'unknown';
}

/**
 * `utmctl list`: a header line, then "<UUID> <status padded to 8> <name>" per VM (List.printResponse in
 * UTMCtl.swift). The name is the rest of the line, spaces included.
 */
export function parseUtmList(text: string): VmInfo[] {
  return text.split('\n').flatMap((line) => {
    const match = /^([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}) (\S+) /.exec(line);
    if (!match) return [];
    const [, id, rawState] = match;
    // The status column is padded to 8 characters and followed by one space; a longer word just takes its space.
    const name = line.slice(id.length + 1 + Math.max(8, rawState.length) + 1);
    return [{ id, name, rawState, state: mapUtmState(rawState) }];
  });
}

/** utmctl's Apple Event error handler only prints to stderr, so the command can still exit 0 (UTMCtl.swift). */
function appleEventFailed(result: ExecResult): boolean {
  return /Error from event:|OSStatus error|does not work from SSH sessions/.test(result.stderr);
}

const NO_SHARES = "UTM's command-line tool cannot share folders";

export const utmCapabilities: DriverCapabilities = {
  vms: true,
  pause: true,
  suspend: true,
  sharedFolders: { transports: [], inPersistentConfig: false, byHandOnly: `${NO_SHARES}: add these in UTM's settings` },
  hostCpuInOneCall: false,
  hostPower: false,
  snapshots: false,
};

export class UtmDriver implements HypervisorDriver {
  readonly kind = 'utm' as const;
  readonly capabilities = utmCapabilities;
  private readonly ctx: DriverContext;
  private readonly utmctl: ToolLocator;

  constructor(exec: HostExec, options: DriverOptions = {}) {
    this.ctx = driverContext(exec, options);
    this.utmctl = new ToolLocator(this.ctx, 'utmctl', 'is UTM installed (and its command-line tool in PATH)?');
  }

  /**
   * Runs utmctl in the desktop session of whoever is logged in at the Mac's screen (the owner of /dev/console).
   * As that user, `launchctl asuser` suffices; as anyone else it takes root for launchctl and then sudo back to
   * that user, both without a password prompt (sudo -n).
   */
  private desktopCommand(utmctlPath: string, args: ShellCommand): ShellCommand {
    return sh`u=$(stat -f %Su /dev/console) && uid=$(stat -f %u /dev/console) || exit 1; case "$u" in root|loginwindow|'') echo ${NO_DESKTOP_MARKER} >&2; exit 1;; esac; if [ "$(id -u)" = "$uid" ]; then launchctl asuser "$uid" ${utmctlPath} ${args}; else sudo -n launchctl asuser "$uid" sudo -n -u "$u" ${utmctlPath} ${args}; fi`;
  }

  private async utm(args: ShellCommand, what: string, timeoutMs?: number): Promise<string> {
    const path = await this.utmctl.path();
    const result = await this.ctx.exec(this.desktopCommand(path, args), { timeoutMs });
    if (result.stderr.includes(NO_DESKTOP_MARKER)) {
      throw new AppError(
        'REMOTE_COMMAND_FAILED',
        `${what} failed: nobody is logged in to the desktop of ${this.ctx.where}, and utmctl only works inside a desktop session. Log in to the Mac's desktop (or turn on automatic login) and try again.`,
      );
    }
    if (/sudo: .*password is required/.test(result.stderr)) {
      throw new AppError(
        'REMOTE_COMMAND_FAILED',
        `${what} failed: utmctl must run in the Mac's desktop session, which needs \`sudo launchctl asuser\` without a password on ${this.ctx.where}. Allow passwordless sudo for launchctl for Boxyard's SSH user, or let Boxyard log in as the user who is logged in to the desktop.`,
        { internal: result.stderr.slice(0, 2000) },
      );
    }
    if (appleEventFailed(result)) {
      throw new AppError(
        'REMOTE_COMMAND_FAILED',
        `${what} failed: utmctl does not work from SSH sessions or before logging in, and macOS refused its request on ${this.ctx.where}. Log in to the Mac's desktop, allow passwordless sudo for launchctl for Boxyard's SSH user, or run Boxyard's SSH user as the logged-in user (and allow it to control UTM when macOS asks).`,
        { internal: result.stderr.slice(0, 2000) },
      );
    }
    if (result.stderr.includes('Virtual machine not found.')) {
      throw new AppError('NOT_FOUND', `${what} failed: UTM on ${this.ctx.where} has no such VM (any more).`);
    }
    if (result.code !== 0) throw commandFailed(this.ctx, what, result);
    return result.stdout;
  }

  async version(): Promise<string> {
    await this.utmctl.path();
    // UTMCtl.swift has no version subcommand; the app's Info.plist has the version and needs no desktop session.
    const result = await this.ctx.exec(sh`defaults read ${UTM_APP_INFO} CFBundleShortVersionString`);
    if (result.code !== 0) throw commandFailed(this.ctx, 'Reading the UTM version', result);
    return `UTM ${result.stdout.trim()}`;
  }

  async listVms(): Promise<VmInfo[]> {
    return parseUtmList(await this.utm(sh`list`, 'Listing the VMs'));
  }

  private async state(vm: VmRef): Promise<VmState> {
    return mapUtmState((await this.utm(sh`status ${vm.id}`, `Reading the state of ${vm.name}`)).trim());
  }

  private async guarded(action: GuardedAction, vm: VmRef): Promise<void> {
    guardTransition(action, vm, await this.state(vm));
  }

  async start(vm: VmRef): Promise<void> {
    await this.guarded('start', vm);
    await this.utm(sh`start ${vm.id}`, `Starting ${vm.name}`);
  }

  async stop(vm: VmRef, options: StopOptions): Promise<StopResult> {
    await this.guarded('stop', vm);
    return stopThenForce(
      this.ctx,
      {
        // --request asks the guest OS; --force sends a power-off event (utmctl stop's own help texts).
        requestShutdown: async () => {
          await this.utm(sh`stop ${vm.id} --request`, `Shutting down ${vm.name}`);
        },
        readState: () => this.state(vm),
        forceOff: async () => {
          await this.utm(sh`stop ${vm.id} --force`, `Powering off ${vm.name}`);
        },
      },
      options.timeoutMs,
    );
  }

  /**
   * utmctl suspend keeps the VM in memory ("paused"); --save-state also writes its state to disk. UTM reports
   * both as paused: it has no separate suspended state.
   */
  async suspend(vm: VmRef): Promise<void> {
    await this.guarded('suspend', vm);
    await this.utm(sh`suspend ${vm.id} --save-state`, `Suspending ${vm.name}`);
  }

  async pause(vm: VmRef): Promise<void> {
    await this.guarded('pause', vm);
    await this.utm(sh`suspend ${vm.id}`, `Pausing ${vm.name}`);
  }

  /** utmctl start also resumes a suspended VM (its help text). */
  async resume(vm: VmRef): Promise<void> {
    await this.guarded('resume', vm);
    await this.utm(sh`start ${vm.id}`, `Resuming ${vm.name}`);
  }

  /** utmctl has no restart: a polite stop (forced after a minute), then a start. */
  async restart(vm: VmRef): Promise<void> {
    await this.guarded('restart', vm);
    await this.stop(vm, { timeoutMs: RESTART_STOP_TIMEOUT_MS });
    await this.utm(sh`start ${vm.id}`, `Starting ${vm.name}`);
  }

  /** utmctl clone prints nothing (no new UUID), so the clone is found by its name afterwards. */
  async clone(template: VmRef, newName: string): Promise<VmInfo> {
    ensureNameFree(await this.listVms(), newName, this.ctx);
    await this.utm(sh`clone ${template.id} --name ${newName}`, `Cloning ${template.name}`, CLONE_TIMEOUT_MS);
    return findCloned(await this.listVms(), newName, this.ctx);
  }

  // utmctl has no verbs for these (UTMCtl.swift); typed as the interface's methods so callers pass a VM as usual.
  setResources: HypervisorDriver['setResources'] = async () => {
    throw new AppError('BAD_INPUT', `UTM's command-line tool cannot change a VM's CPUs or memory: change them in UTM's settings on ${this.ctx.where}.`);
  };

  addSharedFolder: HypervisorDriver['addSharedFolder'] = async () => {
    throw new AppError('BAD_INPUT', `${NO_SHARES}: add the shared folder in UTM's settings on ${this.ctx.where}.`);
  };

  removeSharedFolder: HypervisorDriver['removeSharedFolder'] = async () => {
    throw new AppError('BAD_INPUT', `${NO_SHARES}: remove the shared folder in UTM's settings on ${this.ctx.where}.`);
  };

  sharedFolderNames: HypervisorDriver['sharedFolderNames'] = async () => {
    throw new AppError('BAD_INPUT', `${NO_SHARES}: see them in UTM's settings on ${this.ctx.where}.`);
  };

  sharedFolderProblem: HypervisorDriver['sharedFolderProblem'] = async () => null;

  /** utmctl ip-address asks the guest agent and prints one address per line, IPv4 first. */
  async guestIp(vm: VmRef): Promise<string | null> {
    if ((await this.state(vm)) !== 'running') return null;
    return pickGuestAddress((await this.utm(sh`ip-address ${vm.id}`, `Reading the address of ${vm.name}`)).split('\n'));
  }

  /**
   * Not measured: utmctl reports no CPU time, and no public source shows how to tell which QEMU or
   * Virtualization.framework helper process runs which UTM VM.
   */
  hostCpuSeconds: HypervisorDriver['hostCpuSeconds'] = async () => null;

  hostCpuSecondsOfMany: HypervisorDriver['hostCpuSecondsOfMany'] = (vms) => hostCpuSecondsOneByOne(this, vms);
}

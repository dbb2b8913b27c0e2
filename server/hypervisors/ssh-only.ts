import { AppError } from '../errors';
import { sh, type ShellCommand } from '../ssh/quote';
import { commandFailed, driverContext, hostCpuSecondsOneByOne, type DriverContext } from './common';
import type { DriverCapabilities, DriverOptions, HostExec, HostPowerControl, HypervisorDriver, VmInfo } from './driver';

/**
 * A plain SSH box or VPS: there is no hypervisor to talk to, so the only lifecycle actions are rebooting and
 * powering off the box itself (the caller asks the user to confirm). Every VM operation is refused in words.
 */
export const sshOnlyCapabilities: DriverCapabilities = {
  vms: false,
  pause: false,
  suspend: false,
  sharedFolders: { transports: [], inPersistentConfig: false, byHandOnly: 'A plain SSH host has no hypervisor to share folders through: add them on the machine by hand' },
  hostCpuInOneCall: false,
  hostPower: true,
  snapshots: false,
};

export class SshOnlyDriver implements HypervisorDriver, HostPowerControl {
  readonly kind = 'ssh' as const;
  readonly capabilities = sshOnlyCapabilities;
  private readonly ctx: DriverContext;

  constructor(exec: HostExec, options: DriverOptions = {}) {
    this.ctx = driverContext(exec, options);
  }

  private refuse(): never {
    throw new AppError(
      'BAD_INPUT',
      `Boxyard can only reboot or power off ${this.ctx.where}: it is a plain SSH box without a hypervisor.`,
    );
  }

  async version(): Promise<string> {
    const result = await this.ctx.exec(sh`uname -sr`);
    if (result.code !== 0) throw commandFailed(this.ctx, 'uname', result);
    return result.stdout.trim();
  }

  /** A plain box runs no VMs; an empty list lets host overviews treat every kind alike. */
  async listVms(): Promise<VmInfo[]> {
    return [];
  }

  // Typed as the interface's methods so callers pass a VM as with any driver; async, so the refusal is a rejection.
  start: HypervisorDriver['start'] = async () => this.refuse();
  stop: HypervisorDriver['stop'] = async () => this.refuse();
  suspend: HypervisorDriver['suspend'] = async () => this.refuse();
  pause: HypervisorDriver['pause'] = async () => this.refuse();
  resume: HypervisorDriver['resume'] = async () => this.refuse();
  restart: HypervisorDriver['restart'] = async () => this.refuse();
  clone: HypervisorDriver['clone'] = async () => this.refuse();
  setResources: HypervisorDriver['setResources'] = async () => this.refuse();
  addSharedFolder: HypervisorDriver['addSharedFolder'] = async () => this.refuse();
  removeSharedFolder: HypervisorDriver['removeSharedFolder'] = async () => this.refuse();
  sharedFolderNames: HypervisorDriver['sharedFolderNames'] = async () => this.refuse();
  sharedFolderProblem: HypervisorDriver['sharedFolderProblem'] = async () => this.refuse();
  guestIp: HypervisorDriver['guestIp'] = async () => this.refuse();
  hostCpuSeconds: HypervisorDriver['hostCpuSeconds'] = async () => this.refuse();
  /** Every VM reads as null (as hostCpuSeconds refuses each), like a host that cannot measure. */
  hostCpuSecondsOfMany: HypervisorDriver['hostCpuSecondsOfMany'] = (vms) => hostCpuSecondsOneByOne(this, vms);

  /** systemd first; `shutdown` for boxes without it. sudo -n: a password prompt would hang the SSH channel. */
  async rebootHost(): Promise<void> {
    await this.power(sh.raw('sudo -n systemctl reboot || sudo -n shutdown -r now'), 'Rebooting');
  }

  async powerOffHost(): Promise<void> {
    await this.power(sh.raw('sudo -n systemctl poweroff || sudo -n shutdown -h now'), 'Powering off');
  }

  private async power(command: ShellCommand, what: string): Promise<void> {
    const result = await this.ctx.exec(command);
    if (result.code === 0) return;
    if (/sudo: .*password is required/.test(result.stderr)) {
      throw new AppError(
        'REMOTE_COMMAND_FAILED',
        `${what} ${this.ctx.where} needs root: allow Boxyard's SSH user to run systemctl (or shutdown) with sudo without a password.`,
        { internal: result.stderr.slice(0, 2000) },
      );
    }
    throw commandFailed(this.ctx, what, result);
  }
}

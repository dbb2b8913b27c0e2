import type { Actor } from '../audit/audit';
import { isAppError } from '../errors';
import type { HostExec, HypervisorDriver, VmInfo } from '../hypervisors/driver';
import { createDriver } from '../hypervisors/factory';
import type { StoredCredentials } from '../ssh/credentials';
import { failureNote, SshRemote, type AuditSubject, type PinExpected, type PinnedKey } from '../ssh/remote';
import { getHostRow, hostCredentials, recordHostCheck, type HostRow } from './hosts';

/** The pool's id for a host's connection; prefixed so it never collides with a box id. */
const hostPoolKey = (hostId: string) => `host:${hostId}`;

/**
 * Every remote action on a hypervisor host goes through here (see SshRemote): commands are audited as
 * `ssh.exec.host.<purpose>`, and the outcome of driver work is the host's last check. The driver for the host's kind
 * builds the commands. Callers are admins.
 */
export class HostRemote extends SshRemote<HostRow> {
  protected readonly pinAction = 'host.hostkey.pin' as const;

  protected poolKey(hostId: string): string {
    return hostPoolKey(hostId);
  }

  protected load(hostId: string): Promise<HostRow> {
    return getHostRow(this.deps.db, hostId);
  }

  protected credentials(host: HostRow): StoredCredentials {
    return hostCredentials(host, this.deps.secrets);
  }

  protected async savePin(host: HostRow, expected: PinExpected, pin: PinnedKey): Promise<void> {
    await this.deps.db.host.updateMany({ where: { id: host.id, ...expected }, data: pin });
  }

  protected execAction(purpose: string) {
    return `ssh.exec.host.${purpose}` as const;
  }

  protected subject(host: HostRow): AuditSubject {
    return { detail: { hostId: host.id, hostName: host.name } };
  }

  /** Runs `work` with the host's driver and records the outcome (the plain error, or none) on the host. */
  private async checked<T>(hostId: string, actor: Actor, purpose: string, work: (driver: HypervisorDriver) => Promise<T>, version?: (value: T) => string) {
    const host = await this.load(hostId);
    const exec: HostExec = (command, options = {}) => this.execOn(host, command, { ...options, actor, purpose });
    const driver = createDriver(host.kind, exec, { hostName: host.name });
    try {
      const value = await work(driver);
      await recordHostCheck(this.deps.db, host.id, { error: null, version: version?.(value), offeredHostKeyFingerprint: null });
      return value;
    } catch (error) {
      const { message, offered } = failureNote(error);
      if (isAppError(error)) await recordHostCheck(this.deps.db, host.id, { error: message, offeredHostKeyFingerprint: offered?.fingerprint });
      throw error;
    }
  }

  /** Detects the management tool's version and stores it; errors are stored as the host's last error and thrown. */
  detectVersion(hostId: string, actor: Actor): Promise<string> {
    return this.checked(hostId, actor, 'version', (driver) => driver.version(), (v) => v);
  }

  /** Any driver operation on the host (audited as ssh.exec.host.<purpose>), e.g. the guest's IP for an import. */
  withDriver<T>(hostId: string, actor: Actor, purpose: string, work: (driver: HypervisorDriver) => Promise<T>): Promise<T> {
    return this.checked(hostId, actor, purpose, work);
  }

  /** The host's VMs with their state, as its hypervisor lists them. */
  listVms(hostId: string, actor: Actor): Promise<VmInfo[]> {
    return this.checked(hostId, actor, 'vms', (driver) => driver.listVms());
  }

  /**
   * Read-only periodic readings (the host CPU poller): commands through the pool, `timeoutMs` unless one says
   * otherwise, neither audited per call (like the status poller's probes) nor recorded as the host's last check.
   */
  async forReadings(hostId: string, { timeoutMs }: { timeoutMs: number }): Promise<{ host: HostRow; exec: HostExec; driver: HypervisorDriver }> {
    const host = await this.load(hostId);
    const target = this.target(host);
    const exec: HostExec = (command, options = {}) =>
      this.deps.pool.exec(this.poolKey(host.id), target, command, { timeoutMs: options.timeoutMs ?? timeoutMs, stdin: options.stdin, signal: options.signal });
    return { host, exec, driver: createDriver(host.kind, exec, { hostName: host.name }) };
  }
}

import type { Actor } from '../audit/audit';
import { recordAudit, systemActor } from '../audit/audit';
import type { SecretBox } from '../crypto/secret-box';
import type { Db } from '../db/client';
import { isAppError } from '../errors';
import type { HostExec, HypervisorDriver, VmInfo } from '../hypervisors/driver';
import { createDriver } from '../hypervisors/factory';
import { sshAuthFor } from '../ssh/credentials';
import { HostKeyMismatchError } from '../ssh/hostkey';
import type { ExecResult, OutputListener, SshPool, SshTarget } from '../ssh/pool';
import type { ShellCommand } from '../ssh/quote';
import { getHostRow, hostCredentials, recordHostCheck, type HostRow } from './hosts';

/** The pool's id for a host's connection; prefixed so it never collides with a box id. */
export const hostPoolKey = (hostId: string) => `host:${hostId}`;

/**
 * Every remote action on a hypervisor host goes through here, like BoxRemote for boxes: the SSH target comes from
 * the stored (encrypted) credentials and pin (trust on first use), commands run through the shared pool, and each
 * one is audited as `ssh.exec.host.<purpose>`. The driver for the host's kind builds the commands. Callers are admins.
 */
export class HostRemote {
  constructor(private readonly deps: { db: Db; pool: SshPool; secrets: SecretBox; dashboardPrivateKey: string }) {}

  async target(host: HostRow): Promise<SshTarget> {
    const credentials = hostCredentials(host, this.deps.secrets);
    const { db } = this.deps;
    return {
      host: host.host,
      port: host.port,
      username: host.sshUser,
      auth: sshAuthFor(credentials, this.deps.dashboardPrivateKey),
      pinnedHostKey: host.hostKeyFingerprint,
      pinnedHostKeyType: host.hostKeyAlgorithm,
      // Trust on first use: pin only if nothing was pinned meanwhile.
      onHostKeyPinned: async ({ fingerprint, algorithm }) => {
        await db.host.updateMany({
          where: { id: host.id, hostKeyFingerprint: null },
          data: { hostKeyFingerprint: fingerprint, hostKeyAlgorithm: algorithm, hostKeyPinnedAt: new Date(), offeredHostKeyFingerprint: null },
        });
        await recordAudit(db, {
          actor: systemActor,
          action: 'host.hostkey.pin',
          detail: { hostId: host.id, hostName: host.name, fingerprint, algorithm },
          result: 'ok',
        });
      },
    };
  }

  /** A HostExec for the host's driver: each command through the pool, audited with the given purpose. */
  private async executor(host: HostRow, actor: Actor, purpose: string): Promise<HostExec> {
    const target = await this.target(host);
    return async (command, options = {}) => {
      const audited = { actor, action: `ssh.exec.host.${purpose}` as const };
      try {
        const result = await this.deps.pool.exec(hostPoolKey(host.id), target, command, options);
        await recordAudit(this.deps.db, {
          ...audited,
          detail: { hostId: host.id, hostName: host.name, command: command.text, exitCode: result.code, durationMs: Math.round(result.durationMs) },
          result: result.code === 0 ? 'ok' : 'error',
        });
        return result;
      } catch (error) {
        await recordAudit(this.deps.db, {
          ...audited,
          detail: { hostId: host.id, hostName: host.name, command: command.text },
          result: 'error',
          error: error instanceof Error ? error.message : String(error),
        });
        throw error;
      }
    };
  }

  /** Later commands on the host run in a new login; see SshPool.refresh. */
  refreshSession(hostId: string): void {
    this.deps.pool.refresh(hostPoolKey(hostId));
  }

  /** One command on the host, audited like the driver's; for the JobRunner's host steps. */
  async exec(
    hostId: string,
    command: ShellCommand,
    options: { actor: Actor; purpose: string; timeoutMs?: number; signal?: AbortSignal; stdin?: string; onOutput?: OutputListener },
  ): Promise<ExecResult> {
    const host = await getHostRow(this.deps.db, hostId);
    const exec = await this.executor(host, options.actor, options.purpose);
    return exec(command, { timeoutMs: options.timeoutMs, signal: options.signal, stdin: options.stdin, onOutput: options.onOutput });
  }

  private async driver(hostId: string, actor: Actor, purpose: string): Promise<{ host: HostRow; driver: HypervisorDriver }> {
    const host = await getHostRow(this.deps.db, hostId);
    const exec = await this.executor(host, actor, purpose);
    return { host, driver: createDriver(host.kind, exec, { hostName: host.name }) };
  }

  /** Runs `work` with the host's driver and records the outcome (the plain error, or none) on the host. */
  private async checked<T>(hostId: string, actor: Actor, purpose: string, work: (driver: HypervisorDriver) => Promise<T>, version?: (value: T) => string) {
    const { host, driver } = await this.driver(hostId, actor, purpose);
    try {
      const value = await work(driver);
      await recordHostCheck(this.deps.db, host.id, { error: null, version: version?.(value), offeredHostKeyFingerprint: null });
      return value;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const offered = error instanceof HostKeyMismatchError ? error.offered.fingerprint : undefined;
      if (isAppError(error)) await recordHostCheck(this.deps.db, host.id, { error: message, offeredHostKeyFingerprint: offered });
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
}

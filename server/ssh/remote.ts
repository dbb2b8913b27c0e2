import type { Actor, AuditAction } from '../audit/audit';
import { recordAudit, systemActor } from '../audit/audit';
import type { SecretBox } from '../crypto/secret-box';
import type { Db } from '../db/client';
import { sshAuthFor, type StoredCredentials } from './credentials';
import { HostKeyMismatchError, type HostKeyInfo } from './hostkey';
import type { ChannelRequest, ExecResult, OpenChannel, OutputListener, SshPool, SshTarget } from './pool';
import type { ShellCommand } from './quote';
import { errorMessage } from '../../lib/errors';

export interface RemoteDeps {
  db: Db;
  pool: SshPool;
  secrets: SecretBox;
  dashboardPrivateKey: string;
}

/** The columns every stored SSH target (a box, a hypervisor host) has. */
export interface StoredTarget {
  id: string;
  name: string;
  host: string;
  port: number;
  sshUser: string;
  hostKeyFingerprint: string | null;
  hostKeyAlgorithm: string | null;
  hostKeyBlob: string | null;
}

export interface RemoteExecOptions {
  actor: Actor;
  /** Names the audit action: `ssh.exec.<purpose>` (`ssh.exec.host.<purpose>` on hosts). */
  purpose: string;
  timeoutMs?: number;
  /** A cancelled job: the pool kills the remote command, not just stops waiting for it. */
  signal?: AbortSignal;
  stdin?: string | Buffer;
  onOutput?: OutputListener;
}

/** How audit entries name a target: boxes have the audit row's box column, hosts only the detail. */
export interface AuditSubject {
  box?: { id: string; name: string };
  detail: Record<string, string>;
}

/** A pin as stored on the row: a first-use pin sets every column; filling in the full key of an older, fingerprint-only pin sets the key only. */
export type PinnedKey =
  | { hostKeyFingerprint: string; hostKeyAlgorithm: string; hostKeyBlob: string; hostKeyPinnedAt: Date; offeredHostKeyFingerprint: null }
  | { hostKeyAlgorithm: string; hostKeyBlob: string };

/** The row's pin a pin update expects: none yet (first use), or this fingerprint without its full key. */
export interface PinExpected {
  hostKeyFingerprint: string | null;
  hostKeyBlob: null;
}

/** The message and offered key a failed connection leaves on its row. */
export function failureNote(error: unknown): { message: string; offered?: HostKeyInfo } {
  return {
    message: errorMessage(error),
    offered: error instanceof HostKeyMismatchError ? error.offered : undefined,
  };
}

/**
 * The one SSH seam of a kind of stored target (BoxRemote, HostRemote): the SSH target comes from the row's stored
 * (encrypted) credentials and pin (trust on first use), every command runs through the shared pool and is audited,
 * and the subclass keeps the row's status in step with what the connection showed. Deadlines and retries are the
 * pool's.
 */
export abstract class SshRemote<Row extends StoredTarget> {
  constructor(protected readonly deps: RemoteDeps) {}

  /** The pool's id for the row's connection (kinds never share one). */
  protected abstract poolKey(id: string): string;
  protected abstract load(id: string): Promise<Row>;
  protected abstract credentials(row: Row): StoredCredentials;
  /** Stores `pin` only while the row's pin is still `expected` (another connection, or a re-pin, may have raced us). */
  protected abstract savePin(row: Row, expected: PinExpected, pin: PinnedKey): Promise<void>;
  /** `box.hostkey.pin` or `host.hostkey.pin`. */
  protected abstract readonly pinAction: Extract<AuditAction, `${string}.hostkey.pin`>;
  /** The audit action of a command with this purpose. */
  protected abstract execAction(purpose: string): Extract<AuditAction, `ssh.exec.${string}`>;
  protected abstract subject(row: Row): AuditSubject;
  /** A command reached the row's target; nothing to note by default. */
  protected async noteReached(_row: Row): Promise<void> {}
  /** A command failed to reach the row's target or finish there; nothing to note by default. */
  protected async noteFailure(_row: Row, _error: unknown): Promise<void> {}

  target(row: Row): SshTarget {
    const { db } = this.deps;
    return {
      host: row.host,
      port: row.port,
      username: row.sshUser,
      auth: sshAuthFor(this.credentials(row), this.deps.dashboardPrivateKey),
      pinnedHostKey: row.hostKeyFingerprint,
      pinnedHostKeyType: row.hostKeyAlgorithm,
      onHostKeyPinned: async ({ fingerprint, algorithm, blob }: HostKeyInfo) => {
        const pin = { hostKeyFingerprint: fingerprint, hostKeyAlgorithm: algorithm, hostKeyBlob: blob, hostKeyPinnedAt: new Date(), offeredHostKeyFingerprint: null };
        await this.savePin(row, { hostKeyFingerprint: null, hostKeyBlob: null }, pin);
        const { box, detail } = this.subject(row);
        await recordAudit(db, { actor: systemActor, action: this.pinAction, box, detail: { ...detail, fingerprint, algorithm }, result: 'ok' });
      },
      // A pin from before full keys were stored: the key that just matched its fingerprint is the pinned key.
      onPinnedKeyVerified:
        row.hostKeyFingerprint !== null && row.hostKeyBlob === null
          ? ({ fingerprint, algorithm, blob }: HostKeyInfo) => this.savePin(row, { hostKeyFingerprint: fingerprint, hostKeyBlob: null }, { hostKeyAlgorithm: algorithm, hostKeyBlob: blob })
          : undefined,
    };
  }

  /** Runs a command; a non-zero exit is a result, connection failures throw (and are noted on the row). */
  async exec(id: string, command: ShellCommand, options: RemoteExecOptions): Promise<ExecResult> {
    return this.execOn(await this.load(id), command, options);
  }

  protected async execOn(row: Row, command: ShellCommand, options: RemoteExecOptions): Promise<ExecResult> {
    const { box, detail } = this.subject(row);
    const audited = { actor: options.actor, action: this.execAction(options.purpose), box };
    try {
      const result = await this.deps.pool.exec(this.poolKey(row.id), this.target(row), command, {
        timeoutMs: options.timeoutMs,
        signal: options.signal,
        stdin: options.stdin,
        onOutput: options.onOutput,
      });
      await recordAudit(this.deps.db, {
        ...audited,
        detail: { ...detail, command: command.text, exitCode: result.code, durationMs: Math.round(result.durationMs) },
        result: result.code === 0 ? 'ok' : 'error',
      });
      await this.noteReached(row);
      return result;
    } catch (error) {
      await recordAudit(this.deps.db, {
        ...audited,
        detail: { ...detail, command: command.text },
        result: 'error',
        error: failureNote(error).message,
      });
      await this.noteFailure(row, error);
      throw error;
    }
  }

  /**
   * Opens a long-lived channel (a streaming command, a shell) through the pool; it holds one of the target's channel
   * slots until it closes. Neither audited nor noted here: the holder audits what it opens (a terminal) or is
   * periodic work that retries on its own (the metrics sampler).
   */
  async openChannel(id: string, request: ChannelRequest): Promise<OpenChannel> {
    return this.openChannelOn(await this.load(id), request);
  }

  protected openChannelOn(row: Row, request: ChannelRequest): Promise<OpenChannel> {
    return this.deps.pool.openChannel(this.poolKey(row.id), this.target(row), request);
  }

  /**
   * Opens a forwarded TCP stream to `port` on the target's own loopback (direct-tcpip through the pooled connection):
   * a tunnel. Like openChannel it holds a channel slot until it closes, and the holder audits it.
   */
  async openTunnel(id: string, port: number, options: Pick<ChannelRequest, 'timeoutMs' | 'signal'> = {}): Promise<OpenChannel> {
    return this.openChannelOn(await this.load(id), { forward: { host: '127.0.0.1', port }, ...options });
  }

  /** Later commands run in a new login (open channels keep theirs); see SshPool.refresh. */
  refreshSession(id: string): void {
    this.deps.pool.refresh(this.poolKey(id));
  }

  /** Closes the connection and forgets its failures (row deleted, address, credentials or pin changed). */
  forget(id: string): Promise<void> {
    return this.deps.pool.evict(this.poolKey(id));
  }
}

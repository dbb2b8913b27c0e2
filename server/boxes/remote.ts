import type { ClientChannel, PseudoTtyOptions } from 'ssh2';
import type { Actor } from '../audit/audit';
import { recordAudit, systemActor } from '../audit/audit';
import type { Db } from '../db/client';
import { AppError, isAppError } from '../errors';
import { logger } from '../log';
import type { StoredCredentials } from '../ssh/credentials';
import { ChannelOpenError, SshTimeoutError } from '../ssh/errors';
import type { HostKeyInfo } from '../ssh/hostkey';
import type { ShellCommand } from '../ssh/quote';
import { failureNote, SshRemote, type AuditSubject, type PinExpected, type PinnedKey } from '../ssh/remote';
import type { BoxStatus } from '../../lib/validation';
import { boxCredentials, recordStatus } from './boxes';
import { factsCommand, parseFacts } from './facts';

type BoxRow = NonNullable<Awaited<ReturnType<Db['box']['findUnique']>>>;

export interface ShellRequest {
  pty: PseudoTtyOptions;
  /** Sent as SSH env requests; sshd applies those its AcceptEnv allows and silently ignores the rest. */
  env?: Record<string, string>;
  /** Runs this on the PTY instead of the user's login shell (e.g. `docker exec -it ...`). */
  command?: ShellCommand;
  /** Budget for getting the connection and a free channel slot. */
  timeoutMs: number;
  /** Gives up waiting (the terminal was closed while it was opening). */
  signal?: AbortSignal;
}

/** The status a failed connection puts a box in; null when the failure says nothing about the box. */
function statusForError(error: unknown): BoxStatus | null {
  if (!isAppError(error)) return null;
  switch (error.code) {
    case 'SSH_UNREACHABLE':
    case 'SSH_DISCONNECTED':
      return 'unreachable';
    case 'SSH_AUTH_FAILED':
      return 'auth-failed';
    case 'SSH_HOST_KEY_MISMATCH':
      return 'host-key-mismatch';
    default:
      return null;
  }
}

/** A terminal's open failures in its own words (the box by name, what to do about it). */
function shellOpenError(error: unknown, boxName: string): unknown {
  if (error instanceof SshTimeoutError) {
    return new SshTimeoutError(error.phase, `every SSH channel to ${boxName} is busy with other terminals or commands; close a terminal and try again`);
  }
  if (!(error instanceof ChannelOpenError)) return error;
  const internal = { internal: error.internal };
  switch (error.failure) {
    case 'refused':
      return new AppError('REMOTE_COMMAND_FAILED', `${boxName} refused to open another SSH session (too many open?); close a terminal and try again`, internal);
    case 'pty-refused':
      return new AppError('REMOTE_COMMAND_FAILED', `${boxName} refused a terminal (PTY) for this user; check PermitTTY in its sshd_config`, internal);
    case 'gone':
      return new AppError('SSH_DISCONNECTED', `the connection to ${boxName} closed before the terminal opened; try again`, internal);
  }
}

/**
 * Every remote action on a box goes through here (see SshRemote): commands are audited as `ssh.exec.<purpose>`,
 * and the box's status follows what the connection showed. Callers check access first.
 */
export class BoxRemote extends SshRemote<BoxRow> {
  protected readonly pinAction = 'box.hostkey.pin' as const;

  protected poolKey(boxId: string): string {
    return boxId;
  }

  protected async load(boxId: string): Promise<BoxRow> {
    const box = await this.deps.db.box.findUnique({ where: { id: boxId } });
    if (!box) throw new AppError('NOT_FOUND', 'That box was deleted.');
    return box;
  }

  protected credentials(box: BoxRow): StoredCredentials {
    return boxCredentials(box, this.deps.secrets);
  }

  protected async savePin(box: BoxRow, expected: PinExpected, pin: PinnedKey): Promise<void> {
    await this.deps.db.box.updateMany({ where: { id: box.id, ...expected }, data: pin });
  }

  protected execAction(purpose: string) {
    return `ssh.exec.${purpose}` as const;
  }

  protected subject(box: BoxRow): AuditSubject {
    return { box: { id: box.id, name: box.name }, detail: {} };
  }

  protected async noteReached(box: BoxRow): Promise<void> {
    if (box.status !== 'online') await this.setStatus(box, 'online', '');
  }

  protected async noteFailure(box: BoxRow, error: unknown): Promise<void> {
    await this.recordFailure(box, error);
  }

  /**
   * Opens an interactive channel on a PTY. The channel holds one of the box's channel slots until it closes, so
   * long-lived terminals count against the per-box cap. Connection failures throw AppErrors and update the box's
   * status like exec; the caller audits the terminal itself.
   */
  async openShell(boxId: string, request: ShellRequest): Promise<ClientChannel> {
    const box = await this.load(boxId);
    try {
      const { channel } = await this.openChannelOn(box, request);
      // Not awaited: the caller must take the channel's events at once (a shell can exit right away).
      this.noteReached(box).catch((error: unknown) => logger.warn({ box: box.id, err: String(error) }, 'could not record box status'));
      return channel;
    } catch (error) {
      const worded = shellOpenError(error, box.name);
      await this.recordFailure(box, worded);
      throw worded;
    }
  }

  /** Gathers facts (one command) and marks the box online; on failure the status says why. */
  async refreshFacts(boxId: string, actor: Actor) {
    const result = await this.exec(boxId, factsCommand, { actor, purpose: 'facts', timeoutMs: 20_000 });
    if (result.code !== 0) {
      throw new AppError('REMOTE_COMMAND_FAILED', `Gathering facts failed with exit code ${result.code}.`, { internal: result.stderr });
    }
    const facts = parseFacts(result.stdout);
    await recordStatus(this.deps.db, boxId, 'online', '', { facts });
    return facts;
  }

  /** Checks that the box accepts a connection (handshake, host key, auth) without running a command. */
  async probe(boxId: string): Promise<BoxStatus> {
    const box = await this.load(boxId);
    try {
      await this.deps.pool.connect(this.poolKey(box.id), this.target(box));
      await this.setStatus(box, 'online', '');
      return 'online';
    } catch (error) {
      const status = await this.recordFailure(box, error);
      if (!status) throw error;
      return status;
    }
  }

  private async recordFailure(box: BoxRow, error: unknown): Promise<BoxStatus | null> {
    const status = statusForError(error);
    if (!status) return null;
    const { message, offered } = failureNote(error);
    await this.setStatus(box, status, message, offered);
    return status;
  }

  private async setStatus(box: BoxRow, status: BoxStatus, message: string, offeredHostKey?: HostKeyInfo) {
    const changed = box.status !== status || box.statusMessage !== message;
    await recordStatus(this.deps.db, box.id, status, message, { offeredHostKey: status === 'online' ? null : offeredHostKey });
    if (changed) {
      await recordAudit(this.deps.db, {
        actor: systemActor,
        action: 'box.status',
        box: { id: box.id, name: box.name },
        detail: { from: box.status, to: status },
        result: status === 'online' ? 'ok' : 'error',
        error: message || undefined,
      });
    }
  }
}

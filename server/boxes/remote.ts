import type { Actor } from '../audit/audit';
import { recordAudit } from '../audit/audit';
import type { SecretBox } from '../crypto/secret-box';
import type { Db } from '../db/client';
import { AppError, isAppError } from '../errors';
import { HostKeyMismatchError } from '../ssh/hostkey';
import type { ExecResult, SshPool, SshTarget } from '../ssh/pool';
import type { ShellCommand } from '../ssh/quote';
import type { BoxStatus } from '../../lib/validation';
import { boxCredentials, recordStatus } from './boxes';
import { factsCommand, parseFacts } from './facts';

type BoxRow = NonNullable<Awaited<ReturnType<Db['box']['findUnique']>>>;

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

/**
 * Every remote action on a box goes through here: it builds the SSH target from the stored (encrypted)
 * credentials and pin, runs the command through the shared pool, writes the audit entry, and keeps
 * the box's status in step with what the connection showed. Callers check access first.
 */
export class BoxRemote {
  constructor(
    private readonly deps: { db: Db; pool: SshPool; secrets: SecretBox; dashboardPrivateKey: string },
  ) {}

  target(box: BoxRow): SshTarget {
    const credentials = boxCredentials(box, this.deps.secrets);
    const { db } = this.deps;
    return {
      host: box.host,
      port: box.port,
      username: box.sshUser,
      auth:
        credentials.method === 'password'
          ? { kind: 'password', password: credentials.password }
          : credentials.method === 'private-key'
            ? { kind: 'key', privateKey: credentials.privateKey, passphrase: credentials.passphrase }
            : { kind: 'key', privateKey: this.deps.dashboardPrivateKey },
      pinnedHostKey: box.hostKeyFingerprint,
      pinnedHostKeyType: box.hostKeyAlgorithm,
      // Trust on first use: pin only if nothing was pinned meanwhile (another connection may have raced us).
      onHostKeyPinned: async ({ fingerprint, algorithm }) => {
        await db.box.updateMany({
          where: { id: box.id, hostKeyFingerprint: null },
          data: { hostKeyFingerprint: fingerprint, hostKeyAlgorithm: algorithm, hostKeyPinnedAt: new Date(), offeredHostKeyFingerprint: null },
        });
        await recordAudit(db, {
          actor: { id: null, email: null },
          action: 'box.hostkey.pin',
          box: { id: box.id, name: box.name },
          detail: { fingerprint, algorithm },
          result: 'ok',
        });
      },
    };
  }

  private async loadBox(boxId: string): Promise<BoxRow> {
    const box = await this.deps.db.box.findUnique({ where: { id: boxId } });
    if (!box) throw new AppError('NOT_FOUND', 'That box was deleted.');
    return box;
  }

  /** Runs a command on a box; a non-zero exit is a result, connection failures throw and update status. */
  async exec(boxId: string, command: ShellCommand, options: { actor: Actor; purpose: string; timeoutMs?: number }): Promise<ExecResult> {
    const box = await this.loadBox(boxId);
    const audited = { actor: options.actor, action: `ssh.exec.${options.purpose}`, box: { id: box.id, name: box.name } };
    try {
      const result = await this.deps.pool.exec(box.id, this.target(box), command, { timeoutMs: options.timeoutMs });
      await recordAudit(this.deps.db, {
        ...audited,
        detail: { command: command.text, exitCode: result.code, durationMs: Math.round(result.durationMs) },
        result: result.code === 0 ? 'ok' : 'error',
      });
      if (box.status !== 'online') await this.setStatus(box, 'online', '');
      return result;
    } catch (error) {
      await recordAudit(this.deps.db, {
        ...audited,
        detail: { command: command.text },
        result: 'error',
        error: error instanceof Error ? error.message : String(error),
      });
      await this.noteFailure(box, error);
      throw error;
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
    const box = await this.loadBox(boxId);
    try {
      await this.deps.pool.connect(box.id, this.target(box));
      await this.setStatus(box, 'online', '');
      return 'online';
    } catch (error) {
      const status = await this.noteFailure(box, error);
      if (!status) throw error;
      return status;
    }
  }

  private async noteFailure(box: BoxRow, error: unknown): Promise<BoxStatus | null> {
    const status = statusForError(error);
    if (!status) return null;
    const message = error instanceof Error ? error.message : String(error);
    const offered = error instanceof HostKeyMismatchError ? error.offered.fingerprint : undefined;
    await this.setStatus(box, status, message, offered);
    return status;
  }

  private async setStatus(box: BoxRow, status: BoxStatus, message: string, offeredHostKeyFingerprint?: string) {
    const changed = box.status !== status || box.statusMessage !== message;
    await recordStatus(this.deps.db, box.id, status, message, { offeredHostKeyFingerprint: status === 'online' ? null : offeredHostKeyFingerprint });
    if (changed) {
      await recordAudit(this.deps.db, {
        actor: { id: null, email: null },
        action: 'box.status',
        box: { id: box.id, name: box.name },
        detail: { from: box.status, to: status },
        result: status === 'online' ? 'ok' : 'error',
        error: message || undefined,
      });
    }
  }
}

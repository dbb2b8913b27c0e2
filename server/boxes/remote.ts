import type { ClientChannel, Client as SshClient, PseudoTtyOptions } from 'ssh2';
import type { Actor } from '../audit/audit';
import { recordAudit, systemActor } from '../audit/audit';
import type { SecretBox } from '../crypto/secret-box';
import type { Db } from '../db/client';
import { AppError, isAppError } from '../errors';
import { logger } from '../log';
import { sshAuthFor } from '../ssh/credentials';
import { HostKeyMismatchError } from '../ssh/hostkey';
import type { ExecResult, OutputListener, SshPool, SshTarget } from '../ssh/pool';
import type { ShellCommand } from '../ssh/quote';
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

/** Attempts after the box refused to open a channel (sshd's MaxSessions frees slots a moment late), 10 ms apart and doubling. */
const SHELL_OPEN_RETRIES = 5;

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
      auth: sshAuthFor(credentials, this.deps.dashboardPrivateKey),
      pinnedHostKey: box.hostKeyFingerprint,
      pinnedHostKeyType: box.hostKeyAlgorithm,
      // Trust on first use: pin only if nothing was pinned meanwhile (another connection may have raced us).
      onHostKeyPinned: async ({ fingerprint, algorithm }) => {
        await db.box.updateMany({
          where: { id: box.id, hostKeyFingerprint: null },
          data: { hostKeyFingerprint: fingerprint, hostKeyAlgorithm: algorithm, hostKeyPinnedAt: new Date(), offeredHostKeyFingerprint: null },
        });
        await recordAudit(db, {
          actor: systemActor,
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

  /** Later commands on the box run in a new login (open terminals keep theirs); see SshPool.refresh. */
  refreshSession(boxId: string): void {
    this.deps.pool.refresh(boxId);
  }

  /** Runs a command on a box; a non-zero exit is a result, connection failures throw and update status. */
  async exec(
    boxId: string,
    command: ShellCommand,
    options: { actor: Actor; purpose: string; timeoutMs?: number; signal?: AbortSignal; stdin?: string; onOutput?: OutputListener },
  ): Promise<ExecResult> {
    const box = await this.loadBox(boxId);
    const audited = { actor: options.actor, action: `ssh.exec.${options.purpose}` as const, box: { id: box.id, name: box.name } };
    try {
      // The signal (a cancelled job) makes the pool kill the remote command, not just stop waiting for it.
      const result = await this.deps.pool.exec(box.id, this.target(box), command, {
        timeoutMs: options.timeoutMs,
        signal: options.signal,
        stdin: options.stdin,
        onOutput: options.onOutput,
      });
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

  /**
   * Opens an interactive channel on a PTY through the pool. The channel holds one of the box's channel slots until
   * it closes, so long-lived terminals count against the per-box cap. Connection failures throw AppErrors and update
   * the box's status like exec; the caller audits the terminal itself.
   */
  async openShell(boxId: string, request: ShellRequest): Promise<ClientChannel> {
    const box = await this.loadBox(boxId);
    // withConnection waits without a deadline of its own; its connect has one, so a timeout here means queued.
    const waiting = new AbortController();
    const timer = setTimeout(
      () =>
        waiting.abort(
          new AppError('SSH_TIMEOUT', `every SSH channel to ${box.name} is busy with other terminals or commands; close a terminal and try again`),
        ),
      request.timeoutMs,
    );
    const onAbort = () => waiting.abort(request.signal?.reason);
    if (request.signal?.aborted) onAbort();
    else request.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const channel = await new Promise<ClientChannel>((resolve, reject) => {
        this.deps.pool
          .withConnection(
            box.id,
            this.target(box),
            // Settles only when the channel closes: that is what keeps the slot taken.
            async (client) => {
              const opened = await openInteractive(client, request, box.name);
              resolve(opened);
              await new Promise<void>((closed) => opened.once('close', closed));
            },
            { signal: waiting.signal },
          )
          .catch(reject);
      });
      // Not awaited: the caller must take the channel's events at once (a shell can exit right away).
      if (box.status !== 'online') {
        this.setStatus(box, 'online', '').catch((error: unknown) => logger.warn({ box: box.id, err: String(error) }, 'could not record box status'));
      }
      return channel;
    } catch (error) {
      await this.noteFailure(box, error);
      throw error;
    } finally {
      clearTimeout(timer);
      request.signal?.removeEventListener('abort', onAbort);
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

function openInteractiveOnce(client: SshClient, request: ShellRequest): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    const done = (error: Error | undefined, channel: ClientChannel) => (error ? reject(error) : resolve(channel));
    // @types/ssh2 types env as NodeJS.ProcessEnv, which Next's types make demand NODE_ENV; any string map is sent.
    const env = request.env as NodeJS.ProcessEnv | undefined;
    // Both throw "Not connected" when the socket has just gone.
    if (request.command) client.exec(request.command.text, { pty: request.pty, env }, done);
    else client.shell(request.pty, { env }, done);
  });
}

/** Opens the channel, retrying briefly when sshd refuses it; errors become AppErrors with plain messages. */
async function openInteractive(client: SshClient, request: ShellRequest, boxName: string): Promise<ClientChannel> {
  for (let refusals = 0; ; refusals++) {
    try {
      return await openInteractiveOnce(client, request);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // ssh2 sets `reason` only when the box answered the channel open with a refusal.
      const refused = (error as { reason?: unknown }).reason !== undefined;
      if (refused && refusals < SHELL_OPEN_RETRIES) {
        await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** refusals));
        continue;
      }
      if (refused) {
        throw new AppError('REMOTE_COMMAND_FAILED', `${boxName} refused to open another SSH session (too many open?); close a terminal and try again`, { internal: message });
      }
      if (/pseudo-terminal/i.test(message)) {
        throw new AppError('REMOTE_COMMAND_FAILED', `${boxName} refused a terminal (PTY) for this user; check PermitTTY in its sshd_config`, { internal: message });
      }
      throw new AppError('SSH_DISCONNECTED', `the connection to ${boxName} closed before the terminal opened; try again`, { internal: message });
    }
  }
}

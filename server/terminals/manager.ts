import type { ClientChannel } from 'ssh2';
import type { WebSocket } from 'ws';
import { closeCodes, type ConnectParams, type SessionState } from '../../lib/terminal-protocol';
import { recordAudit, systemActor, type Actor, type AuditAction } from '../audit/audit';
import type { SessionUser } from '../boxes/access';
import type { AccessRecheck, AccessWatch } from '../boxes/access-watch';
import type { BoxRemote } from '../boxes/remote';
import type { Db } from '../db/client';
import { AppError, WS_INTERNAL_ERROR } from '../errors';
import { logger } from '../log';
import type { TerminalSessionDirectory } from '../cluster/terminal-sessions';
import { refusalFor, type Refusal } from './close';
import { assertContainerRunning, containerShellCleanupCommand, containerShellCommand, containerStateCommand } from './container';
import { TerminalSession, type EarlyFrame, type Ending, type TerminalSessionStats, type TerminalSize } from './session';

const log = logger.child({ module: 'terminals' });

export interface TerminalManagerOptions {
  db: Db;
  remote: BoxRemote;
  /** A session with no WebSocket attached is closed after this long. */
  idleTimeoutMs: number;
  /** Output history per session (ring buffer capacity). */
  bufferBytes: number;
  /** Waiting for a connection and a free SSH channel before a terminal gives up. */
  openTimeoutMs?: number;
  /** Resumes or starts the box's VM when it is not running (a no-op for other boxes); opening a terminal is demand. */
  wakeBox?: (boxId: string, actor: SessionUser) => Promise<void>;
  /** Ends a session whose user may no longer reach its box (or whose sign-in went away), attached or not. */
  access: AccessWatch;
  /** Several processes on PostgreSQL: where this process's sessions are recorded (claimed by the edge before connect). */
  directory?: Pick<TerminalSessionDirectory, 'release'>;
}

/** A WebSocket asking for a session, after the upgrade handler checked who is asking and that the box is theirs. */
export interface ConnectRequest extends Pick<ConnectParams, 'cols' | 'rows' | 'mode'> {
  sessionId: string;
  user: SessionUser;
  box: { id: string; name: string };
  container: string | null;
  /** Where the browser connected from (the edge's client address), for the audit log. */
  address: string;
  /** Asks again whether this request's user may still reach the box, for the AccessWatch (edge: recheckAccess). */
  recheck: AccessRecheck;
}

/** What the terminals page lists. */
export interface TerminalSessionView {
  id: string;
  user: { id: string; email: string };
  box: { id: string; name: string };
  container: string | null;
  state: SessionState;
  since: Date;
  attached: boolean;
}

export interface TerminalManagerStats {
  sessions: number;
  attached: number;
  paused: number;
  /** Summed over sessions: output sent to browsers and not yet acked. */
  unackedBytes: number;
  /** Summed over sessions: output read from boxes and held by ssh2 or ws. */
  bufferedBytes: number;
}

const DEFAULT_OPEN_TIMEOUT_MS = 20_000;
const TERM = 'xterm-256color';

/**
 * Owns the terminal sessions of this dashboard process, keyed by the id the browser made. Create once, start()
 * before use, stop() on shutdown (which ends every session and tells attached browsers the dashboard restarts).
 */
export class TerminalManager {
  private readonly sessions = new Map<string, TerminalSession>();
  /**
   * Each session's access recheck, with the credentials of the socket that attached last (a tab signed in again
   * brings a new session cookie; the old one may be signed out), and how to stop watching it.
   */
  private readonly watches = new Map<string, { recheck: AccessRecheck; unwatch: () => void }>();
  /** Audit writes and container clean-ups in flight, awaited by stop() before the pool and database close. */
  private readonly pending = new Set<Promise<void>>();
  private running = false;

  constructor(private readonly options: TerminalManagerOptions) {}

  start(): void {
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
    const ending: Ending = { reason: 'the dashboard is restarting', closeCode: closeCodes.serviceRestart, by: null };
    await Promise.all([...this.sessions.values()].map((session) => session.end(ending)));
    await Promise.all(this.pending);
  }

  /**
   * Attaches `socket` to the requested session, opening it first for mode=new. Decided synchronously, so two
   * sockets racing for one new id cannot open two shells. Returns the refusal to close the socket with, if any.
   */
  connect(request: ConnectRequest, socket: WebSocket, early: EarlyFrame[]): Refusal | null {
    if (!this.running) return { code: closeCodes.serviceRestart, reason: 'the dashboard is restarting' };
    const existing = this.sessions.get(request.sessionId);
    if (existing) {
      if (existing.user.id !== request.user.id) return { code: closeCodes.forbidden, reason: 'This terminal session belongs to someone else.' };
      if (existing.box.id !== request.box.id || existing.container !== request.container) {
        return { code: closeCodes.badRequest, reason: 'This terminal session belongs to another box or container.' };
      }
      existing.attach(socket, early);
      const watch = this.watches.get(existing.id);
      if (watch) watch.recheck = request.recheck;
      return null;
    }
    if (request.mode === 'attach') return { code: closeCodes.ended, reason: 'This terminal session has ended.' };

    const session = new TerminalSession({
      id: request.sessionId,
      user: request.user,
      box: request.box,
      container: request.container,
      size: { cols: request.cols, rows: request.rows },
      bufferBytes: this.options.bufferBytes,
      idleTimeoutMs: this.options.idleTimeoutMs,
      open: (size, signal) => this.openChannel(request, size, signal),
      onOpened: (opened) => this.audit(opened, 'terminal.open', request.user, { cols: request.cols, rows: request.rows, address: request.address }),
      onDone: (done, how, failure) => this.onDone(done, how, failure),
    });
    this.sessions.set(session.id, session);
    // Watched from the start, detached or not: a shell left running must end too when access goes.
    const watch = { recheck: request.recheck, unwatch: () => {} };
    watch.unwatch = this.options.access.watch(
      () => watch.recheck(),
      (error) => {
        const refusal = refusalFor(error);
        void session.end({ reason: refusal.reason, closeCode: refusal.code, by: null });
      },
    );
    this.watches.set(session.id, watch);
    session.attach(socket, early);
    void session.start();
    return null;
  }

  /** Whether this process holds the session (not done). */
  holds(sessionId: string): boolean {
    return this.sessions.has(sessionId);
  }

  /** Open sessions: all of them for an admin, their own for a developer. */
  list(user: SessionUser): TerminalSessionView[] {
    return [...this.sessions.values()]
      .filter((session) => user.role === 'admin' || session.user.id === user.id)
      .map((session) => ({
        id: session.id,
        user: { id: session.user.id, email: session.user.email },
        box: session.box,
        container: session.container,
        state: session.state,
        since: session.createdAt,
        attached: session.attached,
      }));
  }

  /** Ends a session for its user or an admin. Someone else's session looks the same as none, so ids cannot be probed. */
  async close(sessionId: string, by: SessionUser): Promise<void> {
    const session = this.sessions.get(sessionId);
    if (!session || (by.role !== 'admin' && session.user.id !== by.id)) {
      throw new AppError('NOT_FOUND', 'No such terminal session; it may have ended already.');
    }
    const reason = session.user.id === by.id ? 'the terminal was closed from the terminals list' : `closed by an admin (${by.email})`;
    await session.end({ reason, closeCode: closeCodes.ended, by });
  }

  stats(): TerminalManagerStats {
    const stats: TerminalManagerStats = { sessions: 0, attached: 0, paused: 0, unackedBytes: 0, bufferedBytes: 0 };
    for (const session of this.sessions.values()) {
      const one = session.stats();
      stats.sessions++;
      if (one.attached) stats.attached++;
      if (one.paused) stats.paused++;
      stats.unackedBytes += one.unackedBytes;
      stats.bufferedBytes += one.socketBufferedBytes + one.channelBufferedBytes;
    }
    return stats;
  }

  /** Sessions on one box that are not done: open, and with a browser attached (metrics' TerminalActivity port). */
  terminalsOn(boxId: string): { open: number; attached: number } {
    const open = [...this.sessions.values()].filter((session) => session.box.id === boxId && session.state !== 'done');
    return { open: open.length, attached: open.filter((session) => session.attached).length };
  }

  sessionStats(sessionId: string): TerminalSessionStats | null {
    return this.sessions.get(sessionId)?.stats() ?? null;
  }

  private async openChannel(request: ConnectRequest, size: TerminalSize, signal: AbortSignal): Promise<ClientChannel> {
    const { remote, wakeBox } = this.options;
    const { container } = request;
    await wakeBox?.(request.box.id, request.user);
    signal.throwIfAborted();
    if (container) {
      // A plain reason beats the PTY printing docker's error and the shell exiting at once.
      const state = await remote.exec(request.box.id, containerStateCommand(container), { actor: request.user, purpose: 'terminal.container', timeoutMs: 20_000 });
      assertContainerRunning(container, state);
    }
    return remote.openShell(request.box.id, {
      pty: { cols: size.cols, rows: size.rows, term: TERM },
      // sshd applies LANG where AcceptEnv allows it (Debian's default does); elsewhere the box's default stays.
      env: { LANG: 'C.UTF-8' },
      command: container ? containerShellCommand(container, request.sessionId, size) : undefined,
      timeoutMs: this.options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS,
      signal,
    });
  }

  private onDone(session: TerminalSession, ending: Ending, failure: unknown): void {
    this.sessions.delete(session.id);
    if (this.options.directory) this.track(this.releaseRecord(this.options.directory, session.id));
    this.watches.get(session.id)?.unwatch();
    this.watches.delete(session.id);
    if (session.container && session.openedAt && !session.shellExited) this.cleanUpContainer(session, session.container);
    if (session.openedAt) {
      this.audit(session, 'terminal.close', ending.by ?? systemActor, {
        reason: ending.reason,
        durationMs: Date.now() - session.openedAt.getTime(),
      });
      return;
    }
    // The shell never opened: a refused container, an unreachable box, or closed while it was opening.
    if (ending.closeCode === WS_INTERNAL_ERROR) log.error({ err: failure, session: session.id }, 'terminal failed to open');
    this.audit(session, 'terminal.open', session.user, {}, ending.reason);
  }

  /** The shell inside the container outlives the closed channel; see containerShellCleanupCommand. */
  private cleanUpContainer(session: TerminalSession, container: string): void {
    this.track(
      this.options.remote
        .exec(session.box.id, containerShellCleanupCommand(container, session.id), { actor: systemActor, purpose: 'terminal.container-cleanup', timeoutMs: 20_000 })
        .then(
          (result) => {
            if (result.code !== 0) log.warn({ session: session.id, container, stderr: result.stderr }, 'could not end a closed terminal\'s shell in its container');
          },
          (error: unknown) => log.warn({ session: session.id, container, err: String(error) }, 'could not end a closed terminal\'s shell in its container'),
        ),
    );
  }

  private audit(session: TerminalSession, action: AuditAction, actor: Actor, detail: Record<string, unknown>, error?: string): void {
    this.track(recordAudit(this.options.db, {
      actor,
      action,
      box: session.box,
      detail: { session: session.id, user: session.user.email, container: session.container, ...detail },
      result: error === undefined ? 'ok' : 'error',
      error,
    }));
  }

  private async releaseRecord(directory: Pick<TerminalSessionDirectory, 'release'>, sessionId: string): Promise<void> {
    await directory.release(sessionId).catch((error: unknown) => log.warn({ session: sessionId, err: String(error) }, 'could not remove an ended terminal from the session directory'));
  }

  private track(work: Promise<void>): void {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }
}

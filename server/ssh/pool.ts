import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import ssh2 from 'ssh2';
import type { Client as SshClient, ClientChannel, ConnectConfig, PseudoTtyOptions } from 'ssh2';
import { formatSeconds } from '../../lib/format';
import { untilAborted } from '../abort';
import { AppError } from '../errors';
import { logger } from '../log';
import { ChannelOpenError, isChannelOpenError, SshTimeoutError, type SshPhase } from './errors';
import { HostKeyVerifier, hostKeyAlgorithmsFor, type HostKeyInfo } from './hostkey';
import { parseKeyOrThrow } from './keys';
import { isShellCommand, type ShellCommand } from './quote';
import { errorMessage } from '../../lib/errors';

// ssh2 is CommonJS without static named exports; Node's ESM loader only offers the default export.
const { Client } = ssh2;

const log = logger.child({ module: 'ssh' });

export type SshAuth =
  | { kind: 'key'; privateKey: string; passphrase?: string }
  | { kind: 'password'; password: string };

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  auth: SshAuth;
  /** Fingerprint ("SHA256:...") the box must present; null/absent = accept the first key and report it. */
  pinnedHostKey?: string | null;
  /** Key type stored with the pin (HostKeyInfo.algorithm): offered first so the box presents the pinned key. */
  pinnedHostKeyType?: string | null;
  /** Called once a connection made without a pin accepted a host key; persist it as the pin. */
  onHostKeyPinned?: (key: HostKeyInfo) => void | Promise<void>;
  /**
   * Called once a connection verified the pinned key, with that key in full: for a caller that stored only the
   * fingerprint of its pin (pins made before full keys were kept). A failure to store it is logged, not fatal.
   */
  onPinnedKeyVerified?: (key: HostKeyInfo) => void | Promise<void>;
}

export interface SshPoolOptions {
  /** TCP connect + SSH handshake + login (ssh2's readyTimeout). */
  connectTimeoutMs: number;
  keepaliveIntervalMs: number;
  /** Unanswered keepalives before the connection is declared dead. */
  keepaliveCountMax: number;
  /**
   * Channels open at once per connection; the rest wait in a queue. OpenSSH refuses more than MaxSessions (default
   * 10), and frees a finished session a moment after its close, so the default stays below that (refused opens are
   * retried).
   */
  maxChannelsPerConnection: number;
  /** A connection with no channel open for this long is closed. */
  idleTimeoutMs: number;
  /** After a failed connect, further uses fail fast with that error for this long, doubling per failure. */
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** stdout + stderr of one exec; beyond it the command is stopped. */
  maxOutputBytes: number;
  /** exec's timeoutMs when the caller gives none. */
  commandTimeoutMs: number;
}

export const defaultSshPoolOptions: SshPoolOptions = {
  connectTimeoutMs: 10_000,
  keepaliveIntervalMs: 15_000,
  keepaliveCountMax: 3,
  maxChannelsPerConnection: 8,
  idleTimeoutMs: 5 * 60_000,
  backoffInitialMs: 1_000,
  backoffMaxMs: 60_000,
  maxOutputBytes: 16 * 1024 * 1024,
  commandTimeoutMs: 60_000,
};

export interface ExecOptions {
  /**
   * Budget for the whole call: waiting for the connection, for a free channel, and the command itself.
   * Defaults to the pool's commandTimeoutMs.
   */
  timeoutMs?: number;
  stdin?: string | Buffer;
  signal?: AbortSignal;
  /** Overrides the pool's maxOutputBytes for this command. */
  maxOutputBytes?: number;
  /** Sees the output as it arrives (a job's live log); the result still carries all of it. */
  onOutput?: OutputListener;
}

export type OutputListener = (stream: 'stdout' | 'stderr', chunk: Buffer) => void;

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit status; null when the command was killed by a signal. A non-zero code is a result, not an error. */
  code: number | null;
  signal: string | null;
  durationMs: number;
}

/** A TCP connection the box makes on the channel's behalf (ssh "direct-tcpip", what `ssh -L` asks for). */
export interface ForwardTarget {
  host: string;
  port: number;
}

/** A long-lived channel to open (SshPool.openChannel). */
export interface ChannelRequest {
  /** What runs on the channel; without one (and no forward), the user's login shell. */
  command?: ShellCommand;
  /** A forwarded TCP stream instead of a session: the box connects to this address (a tunnel). */
  forward?: ForwardTarget;
  /** A pseudo-terminal for the channel (terminals); without one, plain pipes. */
  pty?: PseudoTtyOptions;
  /** Sent as SSH env requests; sshd applies those its AcceptEnv allows and silently ignores the rest. */
  env?: Record<string, string>;
  /** Budget for the connection, a free channel slot and the open; none by default (connecting has its own). */
  timeoutMs?: number;
  /** Gives up opening (the terminal was closed, the sampler stopped). */
  signal?: AbortSignal;
  /**
   * Called as the channel opens, before openChannel resolves: listeners attached here miss nothing, even from a
   * command that exits at once (its exit and close can arrive with the open's confirmation).
   */
  onOpen?: (channel: ClientChannel) => void;
}

/** An open long-lived channel; it holds one of its connection's channel slots until it closes. */
export interface OpenChannel {
  channel: ClientChannel;
  /** Ends the channel politely (EOF on its stdin), and outright if the box has not closed it within a second. */
  close(): void;
  /**
   * SshPool.refresh was called for the target since this channel opened: its holder should move to a new channel
   * (a new login) so the retired connection can close.
   */
  refreshed(): boolean;
}

export interface SshPoolStats {
  /** Open SSH connections (including replaced ones still finishing their commands). */
  connections: number;
  connecting: number;
  openChannels: number;
  queued: number;
  /** Targets currently failing fast after a failed connect. */
  failing: number;
}

type Release = () => void;

/** Connection lost before our channel was opened: nothing ran, so trying a fresh connection is safe. */
class ConnectionGone extends Error {}

/** Attempts after a refused channel open, 10 ms apart and doubling (310 ms in all). */
const CHANNEL_OPEN_RETRIES = 5;

function hostPort(target: Pick<SshTarget, 'host' | 'port'>): string {
  return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

/**
 * Time budget and cancellation of one call, plus the phase it is in so a timeout says what it was waiting for.
 */
class Deadline {
  phase: SshPhase = 'connecting';
  private readonly controller = new AbortController();
  private readonly timer?: NodeJS.Timeout;
  private timedOut = false;
  private readonly onParentAbort = () => this.controller.abort();

  constructor(
    private readonly timeoutMs: number | undefined,
    private readonly parent: AbortSignal | undefined,
    private readonly describeTimeout: (phase: SshPhase, timeoutMs: number) => AppError,
  ) {
    if (timeoutMs !== undefined) {
      this.timer = setTimeout(() => {
        this.timedOut = true;
        this.controller.abort();
      }, timeoutMs);
    }
    if (parent?.aborted) this.controller.abort();
    else parent?.addEventListener('abort', this.onParentAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** What to throw once `signal` has aborted: our timeout error, or the caller's own abort reason. */
  error(): unknown {
    if (this.timedOut) return this.describeTimeout(this.phase, this.timeoutMs ?? 0);
    return this.parent?.reason ?? new AppError('INTERNAL', 'the SSH operation was cancelled');
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.parent?.removeEventListener('abort', this.onParentAbort);
  }
}

function pause(ms: number, deadline: Deadline): Promise<void> {
  return untilAborted(new Promise<void>((resolve) => setTimeout(resolve, ms)), deadline.signal, () => deadline.error());
}

interface Waiter {
  grant: () => void;
  fail: (error: unknown) => void;
}

/** One live SSH connection and its channel slots. */
class PooledConnection {
  closed = false;
  /** close() was called: the pool ended it on purpose (idle, stop, evict, retire). */
  closeRequested = false;
  private retired = false;
  private active = 0;
  private readonly waiters: Waiter[] = [];
  private lastActivity = Date.now();
  private readonly closedPromise: Promise<void>;

  constructor(
    readonly client: SshClient,
    readonly where: string,
    /** Host key verified on this connection. */
    readonly hostKey: HostKeyInfo,
    /** Opened without a pin, so it also serves calls that still carry no pin (before the caller persisted it). */
    readonly openedUnpinned: boolean,
    private readonly maxChannels: number,
    onClose: (connection: PooledConnection) => void,
  ) {
    this.closedPromise = new Promise((resolve) => {
      client.once('close', () => {
        this.closed = true;
        for (const waiter of this.waiters.splice(0)) waiter.fail(new ConnectionGone());
        onClose(this);
        resolve();
      });
    });
  }

  get openChannels(): number {
    return this.closed ? 0 : this.active;
  }

  get queued(): number {
    return this.waiters.length;
  }

  isIdleSince(cutoff: number): boolean {
    return this.active === 0 && this.waiters.length === 0 && this.lastActivity <= cutoff;
  }

  /** Takes a channel slot, waiting in line when all are busy. */
  acquire(deadline: Deadline): Promise<Release> {
    if (this.closed) return Promise.reject(new ConnectionGone());
    if (this.active < this.maxChannels && this.waiters.length === 0) return Promise.resolve(this.take());
    const { signal } = deadline;
    if (signal.aborted) return Promise.reject(deadline.error());
    return new Promise<Release>((resolve, reject) => {
      const onAbort = () => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(deadline.error());
      };
      const waiter: Waiter = {
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve(this.take());
        },
        fail: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private take(): Release {
    this.active++;
    let released = false;
    return () => {
      if (released || this.closed) return;
      released = true;
      this.active--;
      this.lastActivity = Date.now();
      const next = this.waiters.shift();
      if (next) next.grant();
      else if (this.retired && this.active === 0) void this.close();
    };
  }

  /** Replaced by a newer config or a stopped pool: close once no longer in use. */
  retire(): void {
    this.retired = true;
    // Callers that were handed this connection may be a few microtasks away from taking their slot.
    setImmediate(() => {
      if (this.active === 0 && this.waiters.length === 0) void this.close();
    });
  }

  /** Polite SSH disconnect; the socket is destroyed if the box does not let go within a second. */
  close(): Promise<void> {
    this.closeRequested = true;
    if (!this.closed) {
      this.client.end();
      const force = setTimeout(() => this.client.destroy(), 1_000);
      void this.closedPromise.then(() => clearTimeout(force));
    }
    return this.closedPromise;
  }
}

/** Per target id: its current connection, the connect in flight, and the memory of the last failure. */
interface TargetEntry {
  readonly id: string;
  /** Config keys this entry serves; a call with any other config replaces the entry. */
  readonly keys: Set<string>;
  target: SshTarget;
  /** The private key was checked (once: decrypting a passphrase-protected key is deliberately slow). */
  keyChecked?: boolean;
  connection: PooledConnection | null;
  connecting: Promise<PooledConnection> | null;
  failure: { error: unknown; attempts: number; retryAt: number } | null;
}

/** Identity of everything that changes what the connection is; secrets only enter through a hash. */
function configKey(target: SshTarget, pinnedHostKey = target.pinnedHostKey ?? null): string {
  const { host, port, username, auth } = target;
  return createHash('sha256').update(JSON.stringify([host, port, username, auth, pinnedHostKey])).digest('hex');
}

/**
 * The one way the product talks to boxes: one reused SSH connection per target, a channel cap per connection,
 * fail-fast backoff after connect failures, idle close, and errors translated into AppErrors with plain messages.
 *
 * Created once per process (see stack facts: reach it through globalThis or injection, not module state), then
 * start() before use and stop() on shutdown.
 */
export class SshPool {
  private readonly options: SshPoolOptions;
  private readonly entries = new Map<string, TargetEntry>();
  /** Connections whose target config changed, still finishing their commands. */
  private readonly retiring = new Set<PooledConnection>();
  private readonly generations = new Map<string, number>();
  private sweeper: NodeJS.Timeout | null = null;
  private running = false;

  constructor(options: Partial<SshPoolOptions> = {}) {
    this.options = { ...defaultSshPoolOptions, ...options };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const every = Math.min(Math.max(this.options.idleTimeoutMs / 4, 50), 10_000);
    this.sweeper = setInterval(() => this.sweepIdle(), every);
    // Idle cleanup alone must not keep a process (a CLI, a test) alive.
    this.sweeper.unref();
  }

  /** Closes every connection; queued calls fail and running commands end with SSH_DISCONNECTED. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    const connecting: Promise<unknown>[] = [];
    for (const entry of this.entries.values()) {
      this.retireConnection(entry.connection);
      if (entry.connecting) connecting.push(entry.connecting.catch(() => undefined));
    }
    this.entries.clear();
    // A connect in flight finishes (or fails) on its own and lands in `retiring`, since the pool is stopped.
    await Promise.all(connecting);
    await Promise.all([...this.retiring].map((connection) => connection.close()));
  }

  /** Runs a command. Resolves with its output and exit status whatever the status; throws AppError otherwise. */
  async exec(targetId: string, target: SshTarget, command: ShellCommand, options: ExecOptions = {}): Promise<ExecResult> {
    // Also guards JavaScript callers and `as any`: raw strings never reach a shell.
    if (!isShellCommand(command)) {
      throw new AppError('INTERNAL', 'SshPool.exec needs a ShellCommand built with sh`...`');
    }
    const started = performance.now();
    const deadline = this.deadline(target, options.timeoutMs ?? this.options.commandTimeoutMs, options.signal);
    try {
      // The exec request may start the command as the channel opens: from here a timeout is the command's.
      const result = await this.openWithRetry(targetId, target, { command }, deadline, 'running', (connection, channel) =>
        collectOutput(connection, channel, {
          stdin: options.stdin,
          maxOutputBytes: options.maxOutputBytes ?? this.options.maxOutputBytes,
          onOutput: options.onOutput,
          deadline,
        }),
      );
      return { ...result, durationMs: Math.round((performance.now() - started) * 10) / 10 };
    } finally {
      deadline.dispose();
    }
  }

  /**
   * Opens a long-lived channel (a terminal's shell, a streaming command) with the same connection, slot wait and
   * refused-open retry as exec. The channel holds one of the connection's slots until it closes, and has no deadline
   * of its own: timeoutMs (none by default) and signal only bound the open.
   */
  async openChannel(targetId: string, target: SshTarget, request: ChannelRequest): Promise<OpenChannel> {
    if (request.command && !isShellCommand(request.command)) {
      throw new AppError('INTERNAL', 'SshPool.openChannel needs a ShellCommand built with sh`...`');
    }
    if (request.forward && (request.command || request.pty || request.env)) {
      throw new AppError('INTERNAL', 'SshPool.openChannel: a forwarded channel runs no command and has no PTY or env');
    }
    const generation = this.generation(targetId);
    const deadline = this.deadline(target, request.timeoutMs, request.signal);
    try {
      const channel = await this.openWithRetry(targetId, target, request, deadline, 'opening', (_connection, opened) => {
        request.onOpen?.(opened);
        return opened;
      });
      return {
        channel,
        close: () => {
          // EOF on stdin ends a well-behaved command; close() makes sure if the box does not answer.
          channel.end();
          setTimeout(() => channel.close(), 1_000).unref();
        },
        refreshed: () => this.generation(targetId) !== generation,
      };
    } finally {
      deadline.dispose();
    }
  }

  /** A call's budget; its timeout error names the phase it ran out in. */
  private deadline(target: SshTarget, timeoutMs: number | undefined, signal: AbortSignal | undefined): Deadline {
    const where = hostPort(target);
    return new Deadline(timeoutMs, signal, (phase, ms) => this.timeoutError(phase, ms, where));
  }

  /**
   * Leases a slot and opens a channel on it, handing it to `use` as it opens; a refused open is retried after a short
   * pause (nothing ran).
   */
  private async openWithRetry<T>(
    targetId: string,
    target: SshTarget,
    request: ChannelSpec,
    deadline: Deadline,
    openingPhase: SshPhase,
    use: (connection: PooledConnection, channel: ClientChannel) => T,
  ): Promise<T> {
    for (let refusals = 0; ; refusals++) {
      const { connection, release } = await this.lease(targetId, target, deadline);
      deadline.phase = openingPhase;
      try {
        return await openOn(connection, request, deadline, release, use);
      } catch (error) {
        // sshd frees a finished session only after its channel close is processed, so an open right behind a
        // close can still hit MaxSessions. The command did not start: retrying shortly is safe.
        if (!isChannelOpenError(error, 'refused') || refusals === CHANNEL_OPEN_RETRIES) throw error;
        log.debug({ target: targetId, refusals }, 'ssh channel open refused; retrying');
        await pause(10 * 2 ** refusals, deadline);
      }
    }
  }

  /**
   * Makes sure the target has a logged-in connection (handshake, host key check, auth) without running anything:
   * a probe. Reuses the open connection when there is one; throws the same AppErrors as exec.
   */
  async connect(targetId: string, target: SshTarget, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    this.assertRunning();
    const deadline = this.deadline(target, options.timeoutMs, options.signal);
    try {
      await untilAborted(this.connectionFor(this.entryFor(targetId, target)), deadline.signal, () => deadline.error());
    } finally {
      deadline.dispose();
    }
  }

  /**
   * Lends the target's connection to `use` while holding one channel slot (for shells, SFTP, forwarding): `use`
   * must open at most one channel and settle when that channel is done.
   */
  async withConnection<T>(
    targetId: string,
    target: SshTarget,
    use: (client: SshClient) => Promise<T>,
    options: { signal?: AbortSignal } = {},
  ): Promise<T> {
    const deadline = this.deadline(target, undefined, options.signal);
    try {
      const { connection, release } = await this.lease(targetId, target, deadline);
      try {
        return await use(connection.client);
      } finally {
        release();
      }
    } finally {
      deadline.dispose();
    }
  }

  /**
   * Later calls for the target get a new connection, at once even during a failure backoff, while the current one
   * finishes what runs on it (an open terminal keeps working): for changes a login only picks up when it starts, such
   * as the user's groups, and for a box that just came back (a VM woken up).
   */
  refresh(targetId: string): void {
    this.generations.set(targetId, this.generation(targetId) + 1);
    const entry = this.entries.get(targetId);
    if (!entry) return;
    this.retireConnection(entry.connection);
    entry.connection = null;
    entry.failure = null;
  }

  /** Counts refresh() calls for a target; OpenChannel.refreshed compares it to the value at the open. */
  private generation(targetId: string): number {
    return this.generations.get(targetId) ?? 0;
  }

  /** Forgets a target (box deleted, credentials changed): closes its connection and its failure memory. */
  async evict(targetId: string): Promise<void> {
    const entry = this.entries.get(targetId);
    if (!entry) return;
    this.entries.delete(targetId);
    await entry.connection?.close();
  }

  stats(): SshPoolStats {
    const stats: SshPoolStats = { connections: 0, connecting: 0, openChannels: 0, queued: 0, failing: 0 };
    const connections = [...this.retiring];
    for (const entry of this.entries.values()) {
      if (entry.connection) connections.push(entry.connection);
      if (entry.connecting) stats.connecting++;
      if (entry.failure && entry.failure.retryAt > Date.now()) stats.failing++;
    }
    for (const connection of connections) {
      if (connection.closed) continue;
      stats.connections++;
      stats.openChannels += connection.openChannels;
      stats.queued += connection.queued;
    }
    return stats;
  }

  private async lease(
    targetId: string,
    target: SshTarget,
    deadline: Deadline,
  ): Promise<{ connection: PooledConnection; release: Release }> {
    // Two rounds: a connection can die between being handed out and our turn for a channel.
    for (let round = 1; ; round++) {
      this.assertRunning();
      deadline.phase = 'connecting';
      const connection = await untilAborted(this.connectionFor(this.entryFor(targetId, target)), deadline.signal, () => deadline.error());
      this.assertRunning();
      deadline.phase = 'queued';
      try {
        return { connection, release: await connection.acquire(deadline) };
      } catch (error) {
        if (!(error instanceof ConnectionGone)) throw error;
        if (round === 2) {
          throw new AppError('SSH_DISCONNECTED', `the connection to ${connection.where} closed before the command started; try again`);
        }
      }
    }
  }

  private assertRunning(): void {
    if (!this.running) {
      throw new AppError('INTERNAL', 'the SSH pool is not running (start() was not called, or stop() was)');
    }
  }

  private entryFor(targetId: string, target: SshTarget): TargetEntry {
    const key = configKey(target);
    const existing = this.entries.get(targetId);
    if (existing?.keys.has(key)) {
      existing.target = target;
      return existing;
    }
    if (existing) {
      // New host, credentials or pin: later calls use a new connection, the old one finishes what it runs.
      this.retireConnection(existing.connection);
    }
    const entry: TargetEntry = { id: targetId, keys: new Set([key]), target, connection: null, connecting: null, failure: null };
    this.entries.set(targetId, entry);
    return entry;
  }

  private retireConnection(connection: PooledConnection | null): void {
    if (!connection || connection.closed) return;
    this.retiring.add(connection);
    connection.retire();
  }

  private connectionFor(entry: TargetEntry): Promise<PooledConnection> {
    if (entry.connection && !entry.connection.closed) return Promise.resolve(entry.connection);
    if (entry.connecting) return entry.connecting;
    // Do not hammer a box that just failed: repeat its error until the backoff has passed.
    if (entry.failure && Date.now() < entry.failure.retryAt) return Promise.reject(entry.failure.error);

    const started = performance.now();
    entry.connecting = this.open(entry)
      .then(
        (connection) => {
          entry.failure = null;
          log.debug({ target: entry.id, where: connection.where, ms: Math.round(performance.now() - started) }, 'ssh connected');
          if (this.entries.get(entry.id) !== entry || !this.running) {
            // Replaced or stopped while connecting: the callers that waited use it once, then it closes.
            this.retireConnection(connection);
          } else {
            entry.connection = connection;
            // Calls that still carry no pin (the caller is persisting it) or the new pin both fit this connection.
            if (connection.openedUnpinned) entry.keys.add(configKey(entry.target, connection.hostKey.fingerprint));
          }
          return connection;
        },
        (error: unknown) => {
          const attempts = (entry.failure?.attempts ?? 0) + 1;
          const backoff = Math.min(this.options.backoffInitialMs * 2 ** (attempts - 1), this.options.backoffMaxMs);
          // Jitter (50-100% of the backoff) so many boxes failing together do not retry in lockstep.
          const delay = backoff * (0.5 + Math.random() / 2);
          entry.failure = { error, attempts, retryAt: Date.now() + delay };
          log.warn(
            { target: entry.id, attempts, retryInMs: Math.round(delay), err: error instanceof AppError ? error.internal : String(error) },
            error instanceof Error ? error.message : 'ssh connect failed',
          );
          throw error;
        },
      )
      .finally(() => {
        entry.connecting = null;
      });
    return entry.connecting;
  }

  private async open(entry: TargetEntry): Promise<PooledConnection> {
    const { target } = entry;
    const where = hostPort(target);
    const verifier = new HostKeyVerifier(target.pinnedHostKey ?? null, where);
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.username,
      readyTimeout: this.options.connectTimeoutMs,
      keepaliveInterval: this.options.keepaliveIntervalMs,
      keepaliveCountMax: this.options.keepaliveCountMax,
      hostVerifier: verifier.verify,
      algorithms: { serverHostKey: hostKeyAlgorithmsFor(target.pinnedHostKeyType) },
    };
    if (target.auth.kind === 'key') {
      // Checked here for a clear message; ssh2 would only say "Cannot parse privateKey".
      if (!entry.keyChecked) checkPrivateKey(target, target.auth);
      entry.keyChecked = true;
      config.privateKey = target.auth.privateKey;
      config.passphrase = target.auth.passphrase || undefined;
    } else {
      config.password = target.auth.password;
      // Boxes that only allow passwords through PAM ask via keyboard-interactive.
      config.tryKeyboard = true;
    }

    const client = await connectClient(config, target, verifier, this.options.connectTimeoutMs);
    const hostKey = verifier.offered;
    if (!hostKey) {
      client.destroy();
      throw new AppError('INTERNAL', `no host key was checked for ${where}`);
    }
    const connection = new PooledConnection(
      client,
      where,
      hostKey,
      verifier.pinnedNow,
      this.options.maxChannelsPerConnection,
      (closed) => this.onConnectionClosed(entry, closed),
    );
    if (verifier.pinnedNow && target.onHostKeyPinned) {
      try {
        await target.onHostKeyPinned(hostKey);
      } catch (error) {
        // An unsaved pin would silently turn into trust-on-every-use: refuse the connection instead.
        await connection.close();
        throw error;
      }
    }
    if (verifier.matchedPin && target.onPinnedKeyVerified) {
      try {
        await target.onPinnedKeyVerified(hostKey);
      } catch (error) {
        // The pin itself was checked: the connection is sound, the full key is stored on a later one.
        log.warn({ target: entry.id, where, err: String(error) }, 'could not store the full pinned host key');
      }
    }
    return connection;
  }

  private onConnectionClosed(entry: TargetEntry, connection: PooledConnection): void {
    this.retiring.delete(connection);
    if (entry.connection !== connection) return;
    // Reconnect happens on next use; only a failing reconnect starts the backoff.
    entry.connection = null;
    if (!connection.closeRequested) log.info({ target: entry.id, where: connection.where }, 'ssh connection dropped');
  }

  private sweepIdle(): void {
    const cutoff = Date.now() - this.options.idleTimeoutMs;
    for (const entry of this.entries.values()) {
      const { connection } = entry;
      if (!connection?.isIdleSince(cutoff)) continue;
      entry.connection = null;
      void connection.close();
      if (!entry.failure && !entry.connecting) this.entries.delete(entry.id);
    }
  }

  private timeoutError(phase: SshPhase, timeoutMs: number, where: string): SshTimeoutError {
    const after = formatSeconds(timeoutMs);
    switch (phase) {
      case 'connecting':
        return new SshTimeoutError(phase, `timed out after ${after} waiting for the SSH connection to ${where}; the box may be down or overloaded`);
      case 'queued':
        return new SshTimeoutError(
          phase,
          `timed out after ${after} waiting for a free SSH channel to ${where} (all ${this.options.maxChannelsPerConnection} busy); try again when other commands have finished`,
        );
      case 'opening':
        return new SshTimeoutError(phase, `timed out after ${after} opening an SSH channel to ${where}; the box may be overloaded`);
      case 'running':
        return new SshTimeoutError(phase, `the command did not finish within ${after} on ${where} and was stopped`);
    }
  }
}

function checkPrivateKey(target: SshTarget, auth: Extract<SshAuth, { kind: 'key' }>): void {
  try {
    parseKeyOrThrow(auth.privateKey, auth.passphrase);
  } catch (error) {
    const reason = errorMessage(error);
    throw new AppError('SSH_AUTH_FAILED', `the private key set for ${target.username}@${hostPort(target)} cannot be used: ${reason}`, {
      cause: error,
      internal: error instanceof AppError ? error.internal : undefined,
    });
  }
}

/** Connects and logs in; rejects with a classified AppError. */
function connectClient(
  config: ConnectConfig,
  target: SshTarget,
  verifier: HostKeyVerifier,
  connectTimeoutMs: number,
): Promise<SshClient> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let settled = false;
    let ready = false;
    const fail = (error: AppError) => {
      if (settled) return;
      settled = true;
      client.destroy();
      reject(error);
    };
    client.once('ready', () => {
      settled = true;
      ready = true;
      // Small request/response packets: without this, Nagle + delayed ACK add ~40 ms to many execs.
      client.setNoDelay(true);
      resolve(client);
    });
    // Must stay attached for the connection's whole life: an unhandled 'error' would crash the process.
    client.on('error', (error: Error & { level?: string; code?: string }) => {
      if (!settled) fail(classifyConnectError(error, target, verifier, connectTimeoutMs));
      else if (ready) log.warn({ where: hostPort(target), level: error.level, err: error.message }, 'ssh connection error');
    });
    client.once('close', () =>
      fail(
        new AppError('SSH_UNREACHABLE', `the SSH server at ${hostPort(target)} closed the connection before login finished; check that sshd is running and healthy`, {
          internal: 'socket closed before ready',
        }),
      ),
    );
    client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => {
      finish(prompts.map(() => (target.auth.kind === 'password' ? target.auth.password : '')));
    });
    try {
      client.connect(config);
    } catch (error) {
      fail(classifyConnectError(error as Error, target, verifier, connectTimeoutMs));
    }
  });
}

function classifyConnectError(
  error: Error & { level?: string; code?: string },
  target: SshTarget,
  verifier: HostKeyVerifier,
  connectTimeoutMs: number,
): AppError {
  const where = hostPort(target);
  const internal = [error.level, error.code, error.message].filter(Boolean).join(': ');
  const unreachable = (message: string) => new AppError('SSH_UNREACHABLE', message, { cause: error, internal });
  const closedEarly = `the connection to ${where} was closed before the SSH server answered; check that sshd is running on the box`;

  if (verifier.mismatch) return verifier.mismatch;
  switch (error.code) {
    case 'ECONNREFUSED':
      return unreachable(`connection refused on ${where}; check that the box is running and sshd listens on port ${target.port}`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return unreachable(`host not found: ${target.host} (DNS lookup failed); check the box's host name`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
      return unreachable(`no route to ${where}; check that the box is up and on the network`);
    case 'ETIMEDOUT':
      return unreachable(`timed out connecting to ${where}; check that the box is up and the port is open`);
    case 'ECONNRESET':
    case 'EPIPE':
      return unreachable(closedEarly);
  }
  // A port forwarder (docker-proxy, a load balancer) accepts the TCP connection even when sshd is down.
  if (error.message === 'Connection lost before handshake') return unreachable(closedEarly);
  if (error.level === 'client-timeout') {
    return unreachable(`timed out connecting to ${where} after ${formatSeconds(connectTimeoutMs)}; check that the box is up and the port is open`);
  }
  if (error.level === 'client-authentication') {
    const what =
      target.auth.kind === 'key'
        ? "the box did not accept the SSH key; add its public key to the user's ~/.ssh/authorized_keys"
        : 'the box did not accept the password, or does not allow password logins';
    return new AppError('SSH_AUTH_FAILED', `permission denied for user ${target.username} on ${where} (${what})`, {
      cause: error,
      internal,
    });
  }
  if (error.level === 'handshake' || error.level === 'protocol') {
    return unreachable(`the SSH handshake with ${where} failed; check that an SSH server listens there and accepts modern algorithms`);
  }
  return unreachable(`could not connect to ${where}: ${error.message}`);
}

/** What a channel runs: SshPool.exec's command, or a long-lived channel's (ChannelRequest). */
type ChannelSpec = Pick<ChannelRequest, 'command' | 'pty' | 'env' | 'forward'>;

/**
 * Opens a channel on a leased slot and hands it to `use` in ssh2's callback: events a command sends at once (its exit
 * and close can arrive with the open's confirmation) are not missed. The slot is released when the channel closes
 * (or the open fails); a channel that arrives after the deadline gave up is stopped at once.
 */
function openOn<T>(
  connection: PooledConnection,
  spec: ChannelSpec,
  deadline: Deadline,
  release: Release,
  use: (connection: PooledConnection, channel: ClientChannel) => T,
): Promise<T> {
  const { where } = connection;
  return new Promise((resolve, reject) => {
    let settled = false;
    const onAbort = () => {
      settled = true;
      reject(deadline.error());
    };
    const opened = (error: Error | undefined, channel: ClientChannel) => {
      if (error) {
        release();
        if (settled) return;
        settled = true;
        deadline.signal.removeEventListener('abort', onAbort);
        reject(channelOpenError(error, where, spec.forward));
        return;
      }
      channel.once('close', release);
      if (settled) {
        // Timed out or cancelled while the channel was opening.
        stopRemote(channel);
        return;
      }
      settled = true;
      deadline.signal.removeEventListener('abort', onAbort);
      try {
        resolve(use(connection, channel));
      } catch (useError) {
        stopRemote(channel);
        reject(useError);
      }
    };
    if (deadline.signal.aborted) {
      release();
      onAbort();
      return;
    }
    deadline.signal.addEventListener('abort', onAbort, { once: true });
    // @types/ssh2 types env as NodeJS.ProcessEnv, which Next's types make demand NODE_ENV; any string map is sent.
    const env = spec.env as NodeJS.ProcessEnv | undefined;
    try {
      // The originator address is informational (sshd logs it); the box's own loopback is what it connects from.
      if (spec.forward) connection.client.forwardOut('127.0.0.1', 0, spec.forward.host, spec.forward.port, opened);
      else if (spec.command) connection.client.exec(spec.command.text, { pty: spec.pty, env }, opened);
      else connection.client.shell(spec.pty ?? false, { env }, opened);
    } catch (error) {
      // ssh2 throws "Not connected" when the socket has just gone.
      opened(error as Error, undefined as unknown as ClientChannel);
    }
  });
}

/** SSH_OPEN_CONNECT_FAILED (RFC 4254): the box could not connect to the forward's address (nothing listens there). */
const OPEN_CONNECT_FAILED = 2;

function channelOpenError(error: Error, where: string, forward: ForwardTarget | undefined): ChannelOpenError {
  const internal = { internal: error.message };
  const { reason } = error as Error & { reason?: unknown };
  if (forward && reason === OPEN_CONNECT_FAILED) {
    return new ChannelOpenError('forward-failed', `nothing accepts connections on port ${forward.port} of the box at ${where} (${forward.host})`, internal);
  }
  if (forward && reason !== undefined) {
    return new ChannelOpenError('forward-refused', `the box at ${where} does not allow forwarding to port ${forward.port} (check AllowTcpForwarding in its sshd_config)`, internal);
  }
  // ssh2 sets `reason` only when the box answered the open with a refusal.
  if (reason !== undefined) {
    return new ChannelOpenError('refused', `the box at ${where} refused to open an SSH session for the command (too many sessions?); try again`, internal);
  }
  if (/pseudo-terminal/i.test(error.message)) {
    return new ChannelOpenError('pty-refused', `the box at ${where} refused a terminal (PTY) for this user; check PermitTTY in its sshd_config`, internal);
  }
  return new ChannelOpenError('gone', `the connection to ${where} closed before the command started; try again`, internal);
}

/** sshd delivers KILL to the command's process group; closing the channel alone would leave it running. */
function stopRemote(channel: ClientChannel): void {
  killRemote(channel);
  channel.close();
}

interface CollectOptions {
  stdin?: string | Buffer;
  maxOutputBytes: number;
  onOutput?: OutputListener;
  deadline: Deadline;
}

/** Feeds stdin and gathers a command's output until the box closes the channel, within the deadline. */
function collectOutput(
  connection: PooledConnection,
  channel: ClientChannel,
  { stdin, maxOutputBytes, onOutput, deadline }: CollectOptions,
): Promise<Omit<ExecResult, 'durationMs'>> {
  const { where } = connection;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      deadline.signal.removeEventListener('abort', onAbort);
      outcome();
    };
    const onAbort = () => {
      stopRemote(channel);
      settle(() => reject(deadline.error()));
    };
    deadline.signal.addEventListener('abort', onAbort, { once: true });

    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let outputBytes = 0;
    const collect = (sink: Buffer[], stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      outputBytes += chunk.length;
      if (outputBytes > maxOutputBytes) {
        stopRemote(channel);
        settle(() =>
          reject(
            new AppError(
              'REMOTE_COMMAND_FAILED',
              `the command printed more than ${Math.round(maxOutputBytes / 1024)} KiB and was stopped; narrow its output (e.g. pipe it through head)`,
            ),
          ),
        );
        return;
      }
      if (settled) return;
      sink.push(chunk);
      onOutput?.(stream, chunk);
    };
    channel.on('data', collect(stdout, 'stdout'));
    channel.stderr.on('data', collect(stderr, 'stderr'));

    let exit: { code: number | null; signal: string | null } | null = null;
    channel.on('exit', (code: number | null, signalName?: string) => {
      exit = { code: code ?? null, signal: signalName ?? null };
    });
    channel.on('error', (channelError: Error) => log.warn({ where, err: channelError.message }, 'ssh channel error'));

    // The channel 'close' comes after stdout has ended, stderr's 'close' after stderr has: wait for both.
    let streamsOpen = 2;
    const onStreamClosed = () => {
      if (--streamsOpen > 0) return;
      settle(() => {
        if (exit) {
          resolve({
            stdout: Buffer.concat(stdout).toString('utf8'),
            stderr: Buffer.concat(stderr).toString('utf8'),
            ...exit,
          });
        } else if (connection.closed) {
          reject(
            new AppError(
              'SSH_DISCONNECTED',
              `connection to ${where} closed during the command; it may or may not have finished, so check before running it again`,
            ),
          );
        } else {
          reject(new AppError('REMOTE_COMMAND_FAILED', `the box at ${where} ended the command without reporting an exit status`));
        }
      });
    };
    channel.once('close', onStreamClosed);
    channel.stderr.once('close', onStreamClosed);

    if (stdin !== undefined) channel.end(stdin);
    else channel.end();
  });
}

/** ssh2 internals reached by killRemote (ssh2 1.17). */
interface ChannelInternals {
  outgoing: { id: number; state: string };
  _client: { _protocol: { signal(channelId: number, signalName: string): void } };
}

/**
 * Sends the "signal" channel request. ssh2's public channel.signal() does nothing once our side of the channel
 * is ended, and we always end it (stdin EOF) right after starting the command, so go through the protocol.
 */
function killRemote(channel: ClientChannel): void {
  const internals = channel as unknown as ChannelInternals;
  if (internals.outgoing?.state !== 'open' && internals.outgoing?.state !== 'eof') return;
  try {
    internals._client._protocol.signal(internals.outgoing.id, 'KILL');
  } catch (error) {
    log.warn({ err: String(error) }, 'could not send KILL to a remote command');
  }
}

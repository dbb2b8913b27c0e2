import type { ClientChannel } from 'ssh2';
import { WebSocket, type RawData } from 'ws';
import { closeCodes, limits, type ServerMessage, type SessionState } from '../../lib/terminal-protocol';
import type { Actor } from '../audit/audit';
import type { SessionUser } from '../boxes/access';
import { logger } from '../log';
import { refusalFor, trimCloseReason } from './close';
import { parseClientMessage } from './messages';
import { RingBuffer } from './ring-buffer';
import { SessionStateMachine } from './session-state';

const log = logger.child({ module: 'terminals' });

/** A frame received before the session could take it (while the WebSocket was being admitted). */
export type EarlyFrame = [data: RawData, isBinary: boolean];

export interface TerminalSize {
  cols: number;
  rows: number;
}

/** How a session ended: what the browser is told, and who ended it for the audit log. */
export interface Ending {
  reason: string;
  closeCode: number;
  /** null: the shell, the box or the dashboard itself ended it. */
  by: Actor | null;
}

export interface TerminalSessionOptions {
  id: string;
  user: SessionUser;
  box: { id: string; name: string };
  container: string | null;
  size: TerminalSize;
  bufferBytes: number;
  idleTimeoutMs: number;
  /** Opens the SSH channel (PTY) of the given size; `signal` aborts when the session is closed while opening. */
  open: (size: TerminalSize, signal: AbortSignal) => Promise<ClientChannel>;
  /** The shell is open. */
  onOpened: (session: TerminalSession) => void;
  /** Called once, when the session is done; `failure` is why the shell could not be opened, if it was not. */
  onDone: (session: TerminalSession, ending: Ending, failure?: unknown) => void;
}

export interface TerminalSessionStats {
  state: SessionState;
  attached: boolean;
  /** Output sent to the attached WebSocket and not yet acked by it. */
  unackedBytes: number;
  /** The SSH channel is paused (flow control): the box's output waits in the SSH window. */
  paused: boolean;
  /** Held by ws, not yet handed to the kernel. */
  socketBufferedBytes: number;
  /** Read from the box by ssh2 but not yet taken by us (grows only while paused, bounded by the SSH window). */
  channelBufferedBytes: number;
  historyBytes: number;
  totalOutputBytes: number;
}

/** Input typed before the shell is ready is kept, up to this much (a few large pastes). */
const MAX_PENDING_INPUT_BYTES = 16 * limits.maxInputBytes;
/** How long a closing channel may take to confirm before the session is finished without it. */
const CLOSE_GRACE_MS = 2_000;

const shellEnded = (exit: { code: number | null; signal: string | null }): string =>
  exit.code !== null ? `the shell exited (code ${exit.code})` : `the shell was ended by signal ${exit.signal ?? 'unknown'}`;

/**
 * One terminal: an SSH channel on a PTY, the recent output (replayed on attach), and at most one attached
 * WebSocket. The session outlives its WebSockets: a reload or a dropped network detaches, and the shell keeps
 * running (its output going to the ring buffer) until a WebSocket attaches again or the idle timeout ends it.
 */
export class TerminalSession {
  readonly id: string;
  readonly user: SessionUser;
  readonly box: { id: string; name: string };
  readonly container: string | null;
  readonly createdAt = new Date();
  /** When the shell opened; null while starting, and for good when it never opened. */
  openedAt: Date | null = null;
  /** Resolves once the session is done. */
  readonly done: Promise<void>;

  private readonly lifecycle = new SessionStateMachine();
  private readonly history: RingBuffer;
  private readonly opening = new AbortController();
  private channel: ClientChannel | null = null;
  private exit: { code: number | null; signal: string | null } | null = null;
  private exitedByItself = false;
  private ending: Ending | null = null;
  private size: TerminalSize;
  private pendingInput: string[] = [];
  private pendingInputBytes = 0;

  private socket: WebSocket | null = null;
  /** Counted per attached socket: what it was sent (replay included) and what it acked. */
  private sentBytes = 0;
  private ackedBytes = 0;
  private paused = false;

  private idleTimer: NodeJS.Timeout | null = null;
  private closeGraceTimer: NodeJS.Timeout | null = null;
  private markDone!: () => void;

  constructor(private readonly options: TerminalSessionOptions) {
    this.id = options.id;
    this.user = options.user;
    this.box = options.box;
    this.container = options.container;
    this.size = options.size;
    this.history = new RingBuffer(options.bufferBytes);
    this.done = new Promise((resolve) => (this.markDone = resolve));
    this.lifecycle.onChange((state) => {
      // `done` is sent by finish() with its reason.
      if (state !== 'done') this.send({ type: 'state', state });
    });
  }

  get state(): SessionState {
    return this.lifecycle.state;
  }

  get attached(): boolean {
    return this.socket !== null;
  }

  /** The shell ended by itself (exit status reported before anyone closed the session). */
  get shellExited(): boolean {
    return this.exitedByItself;
  }

  /** Opens the shell; the session reports its own failure (state done, close code) and never rejects. */
  async start(): Promise<void> {
    const requested = this.size;
    let channel: ClientChannel;
    try {
      channel = await this.options.open(requested, this.opening.signal);
    } catch (error) {
      this.finish(this.ending ?? { ...endingFor(error), by: null }, error);
      return;
    }
    this.useChannel(channel);
    if (this.size !== requested) {
      // Resized while the shell was opening.
      channel.setWindow(this.size.rows, this.size.cols, 0, 0);
    }
    if (this.lifecycle.isAtLeast('closing')) {
      // Closed while it was opening: the channel's close finishes the session.
      channel.close();
      return;
    }
    this.openedAt = new Date();
    this.lifecycle.moveTo('ready');
    this.options.onOpened(this);
    for (const data of this.pendingInput) channel.write(data);
    this.pendingInput = [];
    this.pendingInputBytes = 0;
  }

  /**
   * Attaches a WebSocket, replacing (closing) the previous one, and replays the recent output. `early` are frames
   * that arrived before the session took the socket; they are handled after the replay, in order.
   */
  attach(socket: WebSocket, early: EarlyFrame[] = []): void {
    const previous = this.socket;
    if (previous) {
      this.socket = null;
      close(previous, closeCodes.replaced, 'This terminal was opened in another tab or window.');
    }
    this.clearIdleTimer();
    this.socket = socket;
    this.sentBytes = 0;
    this.ackedBytes = 0;
    socket.on('message', (data, isBinary) => {
      if (this.socket === socket) this.receive(data, isBinary);
    });
    socket.on('close', () => this.detach(socket));

    this.send({ type: 'state', state: this.state });
    const replay = this.history.snapshot();
    this.send({ type: 'replay', bytes: replay.length });
    if (replay.length) this.sendOutput(replay);
    for (const [data, isBinary] of early) this.receive(data, isBinary);
    // The replay may be over the high watermark (a large TERMINAL_BUFFER_BYTES), or an earlier socket paused us.
    this.updateFlow();
  }

  /**
   * Ends the session: the channel is closed (sshd hangs up the shell) and, once it is, the browser is told why.
   * The first ending wins; later calls only wait.
   */
  end(ending: Ending): Promise<void> {
    if (this.lifecycle.isAtLeast('closing')) return this.done;
    this.ending = ending;
    this.lifecycle.moveTo('closing');
    this.clearIdleTimer();
    // Without a channel yet, start() closes the channel or finishes the session once the open settles.
    this.opening.abort(new Error('the terminal was closed while it was opening'));
    this.channel?.close();
    // A box that does not answer (or an open still waiting) must not keep the browser or a shutdown waiting.
    this.closeGraceTimer = setTimeout(() => this.finish(ending), CLOSE_GRACE_MS);
    return this.done;
  }

  stats(): TerminalSessionStats {
    return {
      state: this.state,
      attached: this.attached,
      unackedBytes: this.sentBytes - this.ackedBytes,
      paused: this.paused,
      socketBufferedBytes: this.socket?.bufferedAmount ?? 0,
      channelBufferedBytes: (this.channel?.readableLength ?? 0) + (this.channel?.stderr.readableLength ?? 0),
      historyBytes: this.history.size,
      totalOutputBytes: this.history.totalWritten,
    };
  }

  private useChannel(channel: ClientChannel): void {
    this.channel = channel;
    const onOutput = (chunk: Buffer) => this.output(chunk);
    channel.on('data', onOutput);
    // A PTY merges stderr into its output; a box may still send extended data, which belongs to the screen too.
    channel.stderr.on('data', onOutput);
    channel.on('exit', (code: number | null, signal?: string) => {
      this.exit = { code: code ?? null, signal: signal ?? null };
    });
    channel.on('error', (error: Error) => log.warn({ session: this.id, err: error.message }, 'terminal channel error'));
    channel.once('close', () => {
      this.exitedByItself = this.ending === null && this.exit !== null;
      const reason = this.exit ? shellEnded(this.exit) : 'the connection to the box was lost';
      this.finish(this.ending ?? { reason, closeCode: closeCodes.ended, by: null });
    });
  }

  private output(chunk: Buffer): void {
    this.history.write(chunk);
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return;
    this.sendOutput(chunk);
    this.updateFlow();
  }

  private sendOutput(bytes: Buffer): void {
    this.socket?.send(bytes, { binary: true });
    this.sentBytes += bytes.length;
  }

  /** Pauses the box's output above the high watermark of unacked bytes, resumes below the low one. */
  private updateFlow(): void {
    const unacked = this.sentBytes - this.ackedBytes;
    // Detached: keep reading; the ring buffer keeps memory bounded and the shell must not block.
    const shouldPause = this.socket !== null && (this.paused ? unacked >= limits.lowWatermarkBytes : unacked > limits.highWatermarkBytes);
    if (shouldPause === this.paused || !this.channel) return;
    this.paused = shouldPause;
    if (shouldPause) {
      this.channel.pause();
      this.channel.stderr.pause();
    } else {
      this.channel.resume();
      this.channel.stderr.resume();
    }
  }

  private receive(data: RawData, isBinary: boolean): void {
    const parsed = parseClientMessage(data, isBinary);
    if (!parsed.ok) {
      this.send({ type: 'error', message: parsed.reason });
      return;
    }
    const message = parsed.message;
    switch (message.type) {
      case 'input':
        this.input(message.data);
        break;
      case 'resize':
        this.size = { cols: message.cols, rows: message.rows };
        if (this.state === 'ready') this.channel?.setWindow(message.rows, message.cols, 0, 0);
        break;
      case 'ack':
        // An ack for more than was sent (a client bug) must not let later output run unchecked.
        this.ackedBytes = Math.min(this.sentBytes, this.ackedBytes + message.bytes);
        this.updateFlow();
        break;
      case 'close':
        void this.end({ reason: 'the terminal was closed', closeCode: closeCodes.ended, by: this.user });
        break;
    }
  }

  private input(data: string): void {
    if (this.state === 'ready') {
      this.channel?.write(data);
    } else if (this.state === 'starting') {
      const bytes = Buffer.byteLength(data);
      if (this.pendingInputBytes + bytes > MAX_PENDING_INPUT_BYTES) {
        this.send({ type: 'error', message: 'The terminal is still starting; this input was dropped.' });
        return;
      }
      this.pendingInput.push(data);
      this.pendingInputBytes += bytes;
    }
    // Closing or done: the shell is gone, input has nowhere to go.
  }

  private detach(socket: WebSocket): void {
    if (this.socket !== socket) return;
    this.socket = null;
    this.updateFlow();
    if (this.lifecycle.isAtLeast('closing')) return;
    this.idleTimer = setTimeout(() => {
      void this.end({ reason: `closed after ${duration(this.options.idleTimeoutMs)} with no browser attached`, closeCode: closeCodes.ended, by: null });
    }, this.options.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private finish(ending: Ending, failure?: unknown): void {
    if (!this.lifecycle.moveTo('done')) return;
    this.clearIdleTimer();
    if (this.closeGraceTimer) clearTimeout(this.closeGraceTimer);
    this.pendingInput = [];
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      send(socket, { type: 'state', state: 'done', reason: ending.reason });
      close(socket, ending.closeCode, ending.reason);
    }
    this.options.onDone(this, ending, failure);
    this.markDone();
  }

  private send(message: ServerMessage): void {
    if (this.socket) send(this.socket, message);
  }
}

function duration(ms: number): string {
  return ms < 60_000 ? `${Math.round(ms / 100) / 10} s` : `${Math.round(ms / 6_000) / 10} min`;
}

function endingFor(error: unknown): Omit<Ending, 'by'> {
  const refusal = refusalFor(error);
  return { reason: refusal.reason, closeCode: refusal.code };
}

function send(socket: WebSocket, message: ServerMessage): void {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

/** Closes with a protocol code and a reason cut to what a close frame may carry. */
export function close(socket: WebSocket, code: number, reason: string): void {
  if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close(code, trimCloseReason(reason));
}

import {
  closeCodes,
  finalCloseCodes,
  limits,
  TERMINAL_PATH,
  type ClientMessage,
  type ServerMessage,
  type SessionState,
} from '../../lib/terminal-protocol';
import { connectModeFor, markKnownToServer } from './session-ids';

/**
 * One browser terminal's WebSocket to one server-side session (see lib/terminal-protocol.ts). Framework-free:
 * the React view feeds it input and sizes and renders its state. It reconnects by itself after non-final closes.
 */

export type ConnectionState =
  | { status: 'connecting' }
  /** `session` is the server's last reported session state; `error` its last refusal of a message. */
  | { status: 'open'; session: SessionState | null; error?: string }
  /** `at`: when the next attempt starts (epoch ms). */
  | { status: 'reconnecting'; at: number; attempt: number }
  | { status: 'ended'; code: number; reason: string };

/** Where output goes; an xterm Terminal fits. `callback` runs once the terminal has processed the data. */
export interface OutputSink {
  write(data: string | Uint8Array, callback?: () => void): void;
}

export interface TerminalConnectionOptions {
  session: string;
  box: string;
  container?: string;
  terminal: OutputSink;
  cols: number;
  rows: number;
}

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;
/** Acks are batched: sent at once past this many processed bytes, else after a short pause. */
const ACK_BATCH_BYTES = 64 * 1024;
const ACK_DELAY_MS = 20;
/** ESC c (RIS): a full terminal reset, written in order with the output so bytes already queued are wiped too. */
const FULL_RESET = '\x1bc';

/** Shown when the server closes without a reason text. */
const fallbackReasons: Record<number, string> = {
  [closeCodes.badRequest]: 'The terminal request was refused.',
  [closeCodes.unauthenticated]: 'You are signed out.',
  [closeCodes.forbidden]: 'You may not open a terminal on this box.',
  [closeCodes.notFound]: 'The session no longer exists.',
  [closeCodes.ended]: 'The session ended.',
  [closeCodes.boxUnavailable]: 'The box could not be reached.',
  [closeCodes.replaced]: 'The session was opened in another browser tab.',
  [closeCodes.serviceRestart]: 'The dashboard restarted.',
};

export class TerminalConnection {
  private ws: WebSocket | null = null;
  private mode: 'new' | 'attach';
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  /** Output bytes processed by the terminal and not yet acked, on the current socket. */
  private unacked = 0;
  private size: { cols: number; rows: number };
  /** The size the server knows for the current socket (from the URL or the last resize message). */
  private serverSize = { cols: 0, rows: 0 };
  /** A reason from a `state` message, used when the close frame carries none. */
  private lastReason = '';
  private current: ConnectionState = { status: 'connecting' };
  private readonly listeners = new Set<(state: ConnectionState) => void>();
  private disposed = false;

  constructor(private readonly options: TerminalConnectionOptions) {
    this.mode = connectModeFor(options.session);
    this.size = clampSize(options.cols, options.rows);
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** Calls `listener` on every state change; returns the unsubscribe function. */
  onState(listener: (state: ConnectionState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    this.open();
  }

  /** Sends keystrokes or a paste; dropped unless open (the view disables input meanwhile). */
  sendInput(data: string): void {
    if (this.current.status !== 'open') return;
    for (const piece of splitInput(data)) this.send({ type: 'input', data: piece });
  }

  resize(cols: number, rows: number): void {
    this.size = clampSize(cols, rows);
    this.sendSizeIfChanged();
  }

  /** Skips the wait: after a replaced session ("take over here") or from a "Reconnect now" button. */
  reconnectNow(): void {
    if (this.disposed || this.current.status === 'open' || this.current.status === 'connecting') return;
    clearTimeout(this.retryTimer);
    this.open();
  }

  /**
   * Ends the session on the server (closing its shell), then lets go of it. Returns false when no socket was open
   * to say so; the caller may then end it another way.
   */
  end(): boolean {
    const sent = this.send({ type: 'close' });
    this.dispose();
    return sent;
  }

  /** Lets go of the socket but keeps the session, so a later page can re-attach. */
  dispose(): void {
    this.disposed = true;
    this.listeners.clear();
    clearTimeout(this.retryTimer);
    clearTimeout(this.ackTimer);
    const ws = this.ws;
    this.ws = null;
    // Messages already sent (a `close`) still go out before the close frame.
    ws?.close(1000);
  }

  private open(): void {
    const params = new URLSearchParams({
      session: this.options.session,
      box: this.options.box,
      cols: String(this.size.cols),
      rows: String(this.size.rows),
      mode: this.mode,
    });
    if (this.options.container) params.set('container', this.options.container);
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}${TERMINAL_PATH}?${params}`);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.unacked = 0;
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.serverSize = { ...this.size };
    this.setState({ status: 'connecting' });

    // Events of a socket we replaced or let go of are ignored.
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.attempt = 0;
      this.setState({ status: 'open', session: null });
      this.sendSizeIfChanged();
    };
    ws.onmessage = (event: MessageEvent<ArrayBuffer | string>) => {
      if (ws !== this.ws) return;
      if (this.mode === 'new') {
        // The server has seen this id: reconnects must not start a fresh shell if the session is gone.
        this.mode = 'attach';
        markKnownToServer(this.options.session);
      }
      if (typeof event.data === 'string') this.handleMessage(event.data);
      else this.handleOutput(ws, new Uint8Array(event.data));
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      clearTimeout(this.ackTimer);
      this.handleClose(event.code, event.reason);
    };
  }

  private handleMessage(text: string): void {
    let message: ServerMessage;
    try {
      message = JSON.parse(text) as ServerMessage;
    } catch {
      return;
    }
    if (message.type === 'state') {
      if (message.reason) this.lastReason = message.reason;
      if (this.current.status === 'open') this.setState({ status: 'open', session: message.state });
    } else if (message.type === 'replay') {
      // The replayed history redraws everything this terminal showed before: start from a clean screen.
      this.options.terminal.write(FULL_RESET);
    } else if (message.type === 'error') {
      if (this.current.status === 'open') this.setState({ ...this.current, error: message.message });
    }
  }

  private handleOutput(ws: WebSocket, bytes: Uint8Array): void {
    this.options.terminal.write(bytes, () => this.processed(ws, bytes.byteLength));
  }

  /** Acks belong to the socket that delivered the bytes; a new socket starts counting from zero. */
  private processed(ws: WebSocket, bytes: number): void {
    if (ws !== this.ws) return;
    this.unacked += bytes;
    if (this.unacked >= ACK_BATCH_BYTES) this.flushAcks();
    else this.ackTimer ??= setTimeout(() => this.flushAcks(), ACK_DELAY_MS);
  }

  private flushAcks(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.unacked > 0 && this.send({ type: 'ack', bytes: this.unacked })) this.unacked = 0;
  }

  private handleClose(code: number, reason: string): void {
    if (this.disposed) return;
    if (finalCloseCodes.has(code)) {
      this.setState({ status: 'ended', code, reason: reason || this.lastReason || fallbackReasons[code] || `Closed (${code}).` });
      return;
    }
    const delay = retryDelay(this.attempt++);
    this.setState({ status: 'reconnecting', at: Date.now() + delay, attempt: this.attempt });
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  private sendSizeIfChanged(): void {
    const { cols, rows } = this.size;
    if (cols === this.serverSize.cols && rows === this.serverSize.rows) return;
    if (this.send({ type: 'resize', cols, rows })) this.serverSize = { cols, rows };
  }

  private send(message: ClientMessage): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  private setState(state: ConnectionState): void {
    this.current = state;
    for (const listener of this.listeners) listener(state);
  }
}

/** Exponential backoff with jitter (half fixed, half random) so many tabs do not reconnect in lockstep. */
function retryDelay(attempt: number): number {
  const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function clampSize(cols: number, rows: number) {
  const clamp = (n: number, { min, max }: { min: number; max: number }) => Math.min(max, Math.max(min, Math.floor(n) || min));
  return { cols: clamp(cols, limits.cols), rows: clamp(rows, limits.rows) };
}

/**
 * Splits input into pieces whose JSON-escaped UTF-8 size is at most `maxBytes`, so each stays within the input
 * limit and its frame far below limits.maxMessageBytes whatever the text holds. Never splits a surrogate pair.
 */
export function splitInput(data: string, maxBytes: number = limits.maxInputBytes): string[] {
  // No UTF-16 unit costs more than 6 bytes escaped.
  if (data.length * 6 <= maxBytes) return [data];
  const pieces: string[] = [];
  let start = 0;
  let size = 0;
  for (let i = 0; i < data.length; ) {
    const codePoint = data.codePointAt(i)!;
    const cost = escapedSize(codePoint);
    if (size + cost > maxBytes) {
      pieces.push(data.slice(start, i));
      start = i;
      size = 0;
    }
    size += cost;
    i += codePoint > 0xffff ? 2 : 1;
  }
  pieces.push(data.slice(start));
  return pieces;
}

/** Bytes one code point takes inside a JSON.stringify'd string, UTF-8 encoded. */
function escapedSize(codePoint: number): number {
  if (codePoint === 0x22 || codePoint === 0x5c) return 2; // \" \\
  if (codePoint < 0x20) return [0x08, 0x09, 0x0a, 0x0c, 0x0d].includes(codePoint) ? 2 : 6; // \n or \u001b
  if (codePoint < 0x80) return 1;
  if (codePoint < 0x800) return 2;
  if (codePoint >= 0xd800 && codePoint <= 0xdfff) return 6; // a lone surrogate becomes \udxxx
  if (codePoint < 0x10000) return 3;
  return 4;
}

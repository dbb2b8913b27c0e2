import type { ClientChannel } from 'ssh2';
import type { RawData, WebSocket } from 'ws';
import { tunnelCloseCodes, tunnelLimits, type TunnelServerMessage } from '../../lib/tunnel-protocol';
import { trimCloseReason } from '../terminals/close';

/** Why a tunnel ended: the close code and reason its WebSocket gets, and who ended it (null: the stream or the dashboard). */
export interface TunnelEnding {
  code: number;
  reason: string;
}

export interface TunnelStats {
  bytesUp: number;
  bytesDown: number;
  /** Bytes queued towards the client in ws and its socket. */
  socketBufferedBytes: number;
  /** Bytes queued in ssh2 towards the box, and read from the box but not yet taken. */
  channelBufferedBytes: number;
  channelPaused: boolean;
  socketPaused: boolean;
}

/**
 * One open tunnel: the client's WebSocket and the box's forwarded SSH channel, bytes copied both ways with
 * backpressure (neither side's slowness grows the dashboard's memory beyond the two high-water marks), ended once.
 */
export class TunnelPipe {
  bytesUp = 0;
  bytesDown = 0;
  private channelPaused = false;
  private socketPaused = false;
  private ended: TunnelEnding | null = null;
  readonly done: Promise<TunnelEnding>;
  private finish!: (ending: TunnelEnding) => void;

  constructor(
    private readonly socket: WebSocket,
    private readonly channel: ClientChannel,
    /** Ends the SSH channel (OpenChannel.close). */
    private readonly closeChannel: () => void,
  ) {
    this.done = new Promise((resolve) => (this.finish = resolve));
    channel.on('data', (chunk: Buffer) => this.towardsClient(chunk));
    channel.on('error', () => undefined); // its close follows; the ending says what happened
    // The box's end of the TCP connection closed (EOF; sshd closes the channel only after ours): the stream is over,
    // and the client's close frame follows the bytes already queued.
    const boxClosed = () => this.end({ code: tunnelCloseCodes.streamEnded, reason: 'the connection on the box closed' });
    channel.once('end', boxClosed);
    channel.once('close', boxClosed);
    socket.on('message', (data, isBinary) => this.towardsBox(data, isBinary));
    socket.once('close', () => this.end({ code: tunnelCloseCodes.streamEnded, reason: 'the client closed the tunnel' }));
    socket.resume(); // paused since the upgrade: the client's early bytes flow from here
  }

  stats(): TunnelStats {
    const writable = this.channel.writableLength;
    return {
      bytesUp: this.bytesUp,
      bytesDown: this.bytesDown,
      socketBufferedBytes: this.socket.bufferedAmount,
      channelBufferedBytes: writable + this.channel.readableLength,
      channelPaused: this.channelPaused,
      socketPaused: this.socketPaused,
    };
  }

  /** Ends the tunnel (idempotent): the client gets `ending` as its close code, the box's channel is closed. */
  end(ending: TunnelEnding): void {
    if (this.ended) return;
    this.ended = ending;
    this.closeChannel();
    closeSocket(this.socket, ending);
    this.finish(ending);
  }

  private towardsClient(chunk: Buffer): void {
    if (this.ended) return;
    this.bytesDown += chunk.length;
    this.socket.send(chunk, { binary: true }, () => this.maybeResumeChannel());
    if (!this.channelPaused && this.socket.bufferedAmount > tunnelLimits.highWatermarkBytes) {
      this.channelPaused = true;
      this.channel.pause(); // ssh2 stops widening the box's window: the box stops sending
    }
  }

  /** Runs as each frame reaches the socket: the last of a burst sees the buffer low. */
  private maybeResumeChannel(): void {
    if (!this.channelPaused || this.ended || this.socket.bufferedAmount > tunnelLimits.lowWatermarkBytes) return;
    this.channelPaused = false;
    this.channel.resume();
  }

  private towardsBox(data: RawData, isBinary: boolean): void {
    if (this.ended) return;
    if (!isBinary) {
      this.end({ code: tunnelCloseCodes.badRequest, reason: 'A tunnel carries binary frames only.' });
      return;
    }
    // ws hands binary frames over as Buffers (binaryType 'nodebuffer'): passed on as they are, not copied.
    const chunk = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    this.bytesUp += chunk.length;
    if (this.channel.write(chunk) || this.socketPaused) return;
    // The box is not keeping up: stop reading the client until ssh2 has passed its buffer on.
    this.socketPaused = true;
    this.socket.pause();
    this.channel.once('drain', () => {
      this.socketPaused = false;
      if (!this.ended) this.socket.resume();
    });
  }
}

/** Sends one protocol message before the stream starts. */
export function sendTunnelMessage(socket: WebSocket, message: TunnelServerMessage): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
}

/** Closes with a code and a reason the CLI prints; reading resumes so the client's close frame is seen. */
export function closeSocket(socket: WebSocket, ending: TunnelEnding): void {
  if (socket.readyState !== socket.OPEN && socket.readyState !== socket.CONNECTING) return;
  socket.resume();
  socket.close(ending.code, trimCloseReason(ending.reason));
}

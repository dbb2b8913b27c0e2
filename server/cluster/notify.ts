import { logger } from '../log';
import { errorMessage } from '../../lib/errors';
import { KeptConnection } from './kept-connection';

const log = logger.child({ module: 'cluster' });

/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more; a little under, for the envelope. */
export const MAX_NOTIFY_BYTES = 7_900;

/** A message as it travels: who sent it, and what. */
interface Envelope {
  from: string;
  body: unknown;
}

/**
 * Messages between the dashboard processes on one PostgreSQL database through its own LISTEN/NOTIFY: one listening
 * connection per process, which also sends (pg_notify). Delivery is at most once and only to processes listening at
 * the time: a receiver that was away has missed those messages, so what travels here is live state that the next
 * message replaces (samples, a box's ports), never something that must arrive. A process does not hear itself.
 */
export class NotifyChannel {
  private readonly connection: KeptConnection;
  private readonly listeners: ((from: string, body: unknown) => void)[] = [];

  constructor(
    databaseUrl: string,
    /** The channel's name (an SQL identifier: letters, digits, underscores). */
    private readonly channel: string,
    private readonly runnerId: string,
  ) {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`"${channel}" is not a plain SQL identifier`);
    this.connection = new KeptConnection({
      databaseUrl,
      purpose: 'the notification connection',
      onConnect: async (client) => {
        await client.query(`LISTEN ${channel}`);
      },
      onNotification: (payload) => this.deliver(payload),
    });
  }

  /** Connects and listens; a connection lost later is re-made every second until stop(). */
  start(): Promise<void> {
    return this.connection.start();
  }

  stop(): Promise<void> {
    return this.connection.stop();
  }

  onMessage(listener: (from: string, body: unknown) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Sends `body` (JSON) to every other listening process; false when it was not sent (too large: the caller sends
   * less; no connection right now: it is lost, as a message to an absent listener is).
   */
  async publish(body: unknown): Promise<boolean> {
    const payload = JSON.stringify({ from: this.runnerId, body } satisfies Envelope);
    if (Buffer.byteLength(payload) > MAX_NOTIFY_BYTES) return false;
    const client = this.connection.current();
    if (!client) return false;
    try {
      await client.query('SELECT pg_notify($1, $2)', [this.channel, payload]);
      return true;
    } catch (error) {
      log.debug({ err: errorMessage(error) }, 'could not send a notification to the other dashboard processes');
      return false;
    }
  }

  private deliver(payload: string | undefined): void {
    if (!payload) return;
    let envelope: Envelope;
    try {
      envelope = JSON.parse(payload) as Envelope;
    } catch {
      return;
    }
    if (envelope.from === this.runnerId) return;
    for (const listener of this.listeners) listener(envelope.from, envelope.body);
  }
}

import pg from 'pg';
import { logger } from '../log';
import { errorMessage } from '../../lib/errors';

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
  private client: pg.Client | null = null;
  private readonly listeners: ((from: string, body: unknown) => void)[] = [];
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private connecting: Promise<void> | null = null;

  constructor(
    private readonly databaseUrl: string,
    /** The channel's name (an SQL identifier: letters, digits, underscores). */
    private readonly channel: string,
    private readonly runnerId: string,
  ) {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`"${channel}" is not a plain SQL identifier`);
  }

  /** Connects and listens; a connection lost later is re-made every second until stop(). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    await this.connecting?.catch(() => {});
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
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
    const client = this.client;
    if (!client) return false;
    try {
      await client.query('SELECT pg_notify($1, $2)', [this.channel, payload]);
      return true;
    } catch (error) {
      log.debug({ err: errorMessage(error) }, 'could not send a notification to the other dashboard processes');
      return false;
    }
  }

  private connect(): Promise<void> {
    this.connecting ??= this.openClient().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async openClient(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 5_000 });
    client.on('notification', (message) => this.deliver(message.payload));
    client.on('error', (error) => log.warn({ err: errorMessage(error) }, 'the notification connection failed'));
    client.on('end', () => {
      if (this.client === client) this.client = null;
      this.scheduleReconnect();
    });
    await client.connect();
    await client.query(`LISTEN ${this.channel}`);
    if (this.stopped) await client.end();
    else this.client = client;
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect().catch((error: unknown) => {
        log.warn({ err: errorMessage(error) }, 'could not reconnect the notification connection; trying again');
        this.scheduleReconnect();
      });
    }, 1_000);
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

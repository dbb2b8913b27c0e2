import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { logger } from '../log';
import { errorMessage } from '../../lib/errors';

const log = logger.child({ module: 'cluster' });

/** Wait before a lost or refused connection is tried again. */
const RETRY_MS = 1_000;

export interface KeptConnectionOptions {
  databaseUrl: string;
  /** What the connection is for, in log lines ("the notification connection"). */
  purpose: string;
  /** pg_stat_activity.application_name: how other processes can see this session. */
  applicationName?: string;
  /** Runs on each new connection before it counts as up (LISTEN, for example). */
  onConnect?: (client: pg.Client) => Promise<void>;
  onNotification?: (payload: string | undefined) => void;
}

/**
 * A PostgreSQL session of the process's own, outside Prisma's pool, kept open until stop(): a connection that is lost
 * or refused is made again every second. For what needs one session for a long time: LISTEN, and the presence by
 * which the other processes see this one alive.
 */
export class KeptConnection {
  private client: pg.Client | null = null;
  private connectedAt: number | null = null;
  private stopped = true;
  private retry: NodeJS.Timeout | null = null;
  private connecting: Promise<void> | null = null;

  constructor(private readonly options: KeptConnectionOptions) {}

  /** Connects; rejects when this first attempt failed (the next ones follow by themselves). */
  start(): Promise<void> {
    this.stopped = false;
    return this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    await this.connecting?.catch(() => {});
    const client = this.client;
    this.client = null;
    this.connectedAt = null;
    await client?.end().catch(() => {});
  }

  /** The open connection; null while there is none. */
  current(): pg.Client | null {
    return this.client;
  }

  /** How long the connection has been up without a break; 0 while it is down. */
  upForMs(): number {
    return this.connectedAt === null ? 0 : performance.now() - this.connectedAt;
  }

  private connect(): Promise<void> {
    this.connecting ??= this.open().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async open(): Promise<void> {
    const { databaseUrl, applicationName, onConnect, onNotification, purpose } = this.options;
    const client = new pg.Client({ connectionString: databaseUrl, application_name: applicationName, connectionTimeoutMillis: 5_000 });
    if (onNotification) client.on('notification', (message) => onNotification(message.payload));
    client.on('error', (error) => log.warn({ err: errorMessage(error) }, `${purpose} failed`));
    client.on('end', () => {
      if (this.client === client) {
        this.client = null;
        this.connectedAt = null;
      }
      this.again();
    });
    try {
      await client.connect();
      await onConnect?.(client);
    } catch (error) {
      await client.end().catch(() => {});
      this.again();
      throw error;
    }
    if (this.stopped) await client.end();
    else {
      this.client = client;
      this.connectedAt = performance.now();
    }
  }

  private again(): void {
    if (this.stopped || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.connect().catch((error: unknown) => log.warn({ err: errorMessage(error) }, `could not make ${this.options.purpose} again; trying again`));
    }, RETRY_MS);
    // Retries alone never keep a process alive (one whose start failed exits).
    this.retry.unref();
  }
}

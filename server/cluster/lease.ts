import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { isUniqueViolation, type Db, type DbProvider } from '../db/client';
import { logger } from '../log';
import { errorMessage } from '../../lib/errors';

const log = logger.child({ module: 'lease' });

export interface LeaseOptions {
  /** How long a claim lasts without renewal: another process takes over this long after the holder went silent. */
  ttlMs?: number;
  /** How often the holder renews (and a non-holder tries to take over). Well under ttlMs. */
  renewMs?: number;
  /** Names this process in the lease row; unique per process by default. */
  holder?: string;
  /**
   * This process's clock, for how long it may still act after its last claim (tests move it on instead of waiting
   * out the ttl); on SQLite also the stored expiry's clock. Date.now by default.
   */
  now?: () => number;
}

/**
 * A named lease in the database, held by one dashboard process at a time. Several dashboards on one PostgreSQL each
 * sample boxes for their own pages, but work with effects on the fleet (auto-suspend warnings and actions, metric
 * history) must happen once: only the holder does it. With one dashboard (the SQLite default) it always holds.
 *
 * A claim is one UPDATE that succeeds only for the holder or once the lease expired (a row lock in PostgreSQL, the
 * write lock in SQLite), else an INSERT of a new row; so two processes never both succeed. On PostgreSQL the expiry
 * is computed and compared by the database's clock (`now()`, as the process registry does), so processes whose
 * clocks are far apart still never hold it at once; on SQLite (one process on the database file's host) by this
 * process's clock. The holder stops acting a ttl after it sent its last successful claim by its own clock, which is
 * no later than the stored expiry.
 */
export class Lease {
  readonly holder: string;
  private readonly ttlMs: number;
  private readonly renewMs: number;
  private readonly now: () => number;
  /** Local time until which this process may act; 0 while not holding. */
  private heldUntil = 0;
  private timer: NodeJS.Timeout | null = null;
  private claiming: Promise<boolean> | null = null;

  constructor(
    private readonly db: Db,
    private readonly provider: DbProvider,
    readonly name: string,
    options: LeaseOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.renewMs = options.renewMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.holder = options.holder ?? `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  }

  /** Claims at once, then renews (or tries to take over) every renewMs until stop(). */
  async start(): Promise<void> {
    if (this.timer) return;
    await this.tryClaim();
    this.timer = setInterval(() => void this.tryClaim(), this.renewMs);
  }

  /** Stops renewing and gives the lease up, so another process takes over at its next try instead of after ttl. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.claiming;
    if (this.heldUntil === 0) return;
    this.heldUntil = 0;
    await this.db.lease.updateMany({ where: { name: this.name, holder: this.holder }, data: { expiresAt: new Date(0) } });
  }

  /** Whether this process holds the lease now (a renewal that failed for longer than ttl ends it). */
  held(): boolean {
    return this.now() < this.heldUntil;
  }

  /** One claim or renewal; true when this process holds the lease afterwards. */
  tryClaim(): Promise<boolean> {
    this.claiming ??= this.claim()
      .catch((error: unknown) => {
        log.warn({ lease: this.name, err: errorMessage(error) }, 'could not claim or renew the lease');
        return this.held();
      })
      .finally(() => {
        this.claiming = null;
      });
    return this.claiming;
  }

  private async claim(): Promise<boolean> {
    const was = this.held();
    const sent = this.now();
    const won = this.provider === 'postgres' ? await this.claimByDatabaseClock() : await this.claimByOwnClock(sent);
    this.heldUntil = won ? sent + this.ttlMs : 0;
    if (won !== was) log.info({ lease: this.name, holder: this.holder }, won ? 'lease taken: this process does the fleet-wide work' : 'lease lost to another process');
    return won;
  }

  /** PostgreSQL: `now()` sets and judges the expiry (Prisma stores UTC in columns without a time zone). */
  private async claimByDatabaseClock(): Promise<boolean> {
    const renewed = await this.db.$executeRaw`
      UPDATE lease SET holder = ${this.holder}, "expiresAt" = (now() AT TIME ZONE 'UTC') + ${this.ttlMs}::integer * interval '1 millisecond'
      WHERE name = ${this.name} AND (holder = ${this.holder} OR "expiresAt" < (now() AT TIME ZONE 'UTC'))`;
    if (renewed === 1) return true;
    const inserted = await this.db.$executeRaw`
      INSERT INTO lease (name, holder, "expiresAt") VALUES (${this.name}, ${this.holder}, (now() AT TIME ZONE 'UTC') + ${this.ttlMs}::integer * interval '1 millisecond')
      ON CONFLICT (name) DO NOTHING`;
    return inserted === 1;
  }

  private async claimByOwnClock(now: number): Promise<boolean> {
    const data = { holder: this.holder, expiresAt: new Date(now + this.ttlMs) };
    const { count } = await this.db.lease.updateMany({ where: { name: this.name, OR: [{ holder: this.holder }, { expiresAt: { lt: new Date(now) } }] }, data });
    return count === 1 || (await this.createRow(data));
  }

  /** The first claim of a name on SQLite: true if this process created its row, false if another one did (unique key). */
  private async createRow(data: { holder: string; expiresAt: Date }): Promise<boolean> {
    try {
      await this.db.lease.create({ data: { name: this.name, ...data } });
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }
}

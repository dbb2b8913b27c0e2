import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/client';
import { logger } from '../log';
import { errorMessage } from '../../lib/errors';
import type { ProcessRegistry } from './registry';

const log = logger.child({ module: 'cluster' });

/**
 * How long a session that died with its process stays recorded, from when the process was last known alive: long
 * enough for its browser to re-attach and be told why; then the row goes.
 */
const LOST_SESSION_KEPT_MS = 60 * 60_000;
/** How often each process looks for such rows (any process may: the delete is the same whoever runs it). */
const PRUNE_EVERY_MS = 10 * 60_000;

/** What a browser is told when it attaches to a session that died with the dashboard process holding it. */
export const SESSION_PROCESS_STOPPED = 'the dashboard process holding this terminal stopped; open a new one';

/** The header a process sends with a forwarded terminal to prove it is one of the dashboard's processes. */
export const INTERNAL_AUTH_HEADER = 'x-boxyard-internal';

/** Where a terminal session is, as the process asking sees it. */
export type SessionPlace =
  /** Not recorded anywhere (never opened, or ended), or recorded by this very process: served here. */
  | { kind: 'here' }
  /** Held by another live process, reached at `address`. */
  | { kind: 'elsewhere'; runnerId: string; address: string; userId: string; boxId: string }
  /** Recorded by a process start that is no longer live: the session died with it. */
  | { kind: 'lost'; userId: string; boxId: string };

/**
 * The terminal sessions of the dashboard processes on one PostgreSQL database (table terminal_session): which process
 * start holds each, so a process that receives a terminal WebSocket for a session it does not hold can forward it.
 * Processes authenticate to each other with a key derived from the shared secret key: a user's credentials never
 * open the internal route.
 */
export class TerminalSessionDirectory {
  private readonly token: string;
  private pruneTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    private readonly registry: ProcessRegistry,
    /** SecretBox.derive('cluster-internal'): the same on every process of the dashboard. */
    internalKey: string,
  ) {
    this.token = createHmac('sha256', internalKey).update('forwarded terminal').digest('base64url');
  }

  /** Prunes lost sessions now and every PRUNE_EVERY_MS until stop(). */
  start(): void {
    if (this.pruneTimer) return;
    const prune = () => void this.pruneLost().catch((error: unknown) => log.warn({ err: errorMessage(error) }, 'could not prune lost terminal sessions'));
    prune();
    this.pruneTimer = setInterval(prune, PRUNE_EVERY_MS);
  }

  stop(): void {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pruneTimer = null;
  }

  /**
   * Deletes the sessions of process starts that died more than `keptMs` ago: since their runner id started again, or
   * since their registration ran out; at once where the runner id has no registration (it stopped, and ended its
   * sessions, but could not remove them). Returns how many went.
   */
  async pruneLost(keptMs = LOST_SESSION_KEPT_MS): Promise<number> {
    return this.db.$executeRaw`
      DELETE FROM terminal_session t WHERE NOT EXISTS (
        SELECT 1 FROM dashboard_process p WHERE p."runnerId" = t."runnerId" AND (
          CASE WHEN p.instance = t.instance THEN p."expiresAt" ELSE p."startedAt" END
        ) > (now() AT TIME ZONE 'UTC') - ${keptMs}::integer * interval '1 millisecond')`;
  }

  /** The value of INTERNAL_AUTH_HEADER this process sends. */
  internalToken(): string {
    return this.token;
  }

  /** Whether a request's INTERNAL_AUTH_HEADER is a dashboard process's. */
  acceptsInternal(header: string | string[] | undefined): boolean {
    if (typeof header !== 'string') return false;
    const given = Buffer.from(header);
    const expected = Buffer.from(this.token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  async locate(sessionId: string): Promise<SessionPlace> {
    const [row] = await this.db.$queryRaw<{ runnerId: string; instance: string; userId: string; boxId: string; address: string | null; live: boolean | null }[]>`
      SELECT t."runnerId", t.instance, t."userId", t."boxId", p.address,
        (p.instance = t.instance AND p."expiresAt" > (now() AT TIME ZONE 'UTC')) AS live
      FROM terminal_session t LEFT JOIN dashboard_process p ON p."runnerId" = t."runnerId"
      WHERE t."sessionId" = ${sessionId}`;
    if (!row || (row.runnerId === this.registry.runnerId && row.instance === this.registry.instance)) return { kind: 'here' };
    if (row.live && row.address) return { kind: 'elsewhere', runnerId: row.runnerId, address: row.address, userId: row.userId, boxId: row.boxId };
    return { kind: 'lost', userId: row.userId, boxId: row.boxId };
  }

  /** Records a new session as this process's; false when another process recorded it first. */
  async claim(sessionId: string, userId: string, boxId: string): Promise<boolean> {
    const inserted = await this.db.$executeRaw`
      INSERT INTO terminal_session ("sessionId", "runnerId", instance, "userId", "boxId", "createdAt")
      VALUES (${sessionId}, ${this.registry.runnerId}, ${this.registry.instance}, ${userId}, ${boxId}, (now() AT TIME ZONE 'UTC'))
      ON CONFLICT ("sessionId") DO NOTHING`;
    return inserted === 1;
  }

  /** The session ended on this process. */
  async release(sessionId: string): Promise<void> {
    await this.db.$executeRaw`DELETE FROM terminal_session WHERE "sessionId" = ${sessionId} AND "runnerId" = ${this.registry.runnerId} AND instance = ${this.registry.instance}`;
  }

  /** A lost session, once its user was told: attaching again says it has ended. */
  async forget(sessionId: string): Promise<void> {
    await this.db.$executeRaw`DELETE FROM terminal_session WHERE "sessionId" = ${sessionId}`;
  }
}

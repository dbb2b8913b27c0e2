import { AppError, isAppError } from '../errors';
import { logger } from '../log';

const log = logger.child({ module: 'access-watch' });

/**
 * Asks again whether the user behind something open on a box (a terminal, a tunnel) may still reach it: their
 * identity (session or API token) and their access to the box, as when it was opened. Resolves if so; throws the
 * AppError that says, in plain words, why not ("Your access to web-dev was removed.").
 */
export type AccessRecheck = () => Promise<void>;

interface Watched {
  recheck: AccessRecheck;
  revoke: (error: AppError) => void;
  checking: boolean;
}

export const DEFAULT_ACCESS_RECHECK_MS = 2_000;

/**
 * Ends what a user keeps open on a box once their access is gone, whichever way it went: the user removed or demoted,
 * taken off the box's members or out of the group that gave it, the box given to another owner or deleted, their
 * session signed out or ended (by them on their profile page, or by an admin), their
 * API token revoked, or any of it done by another dashboard process on the same database. Every open thing is
 * rechecked every `intervalMs`, so the next check (2 s by default) sees the change. One watch serves every area that
 * holds something open (terminals, tunnels, previews): each calls watch() once for each open thing.
 *
 * Polling rather than a notification from each function that changes access: better-auth signs out and revokes
 * sessions in its own routes, sessions expire, and a change made by another process never passes through this one.
 */
export class AccessWatch {
  private readonly watched = new Set<Watched>();
  private timer: NodeJS.Timeout | null = null;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly intervalMs = DEFAULT_ACCESS_RECHECK_MS) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.recheckAll(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all(this.inFlight);
  }

  /**
   * Watches one open thing until the returned function is called: `revoke` is called once, with the AppError of the
   * first recheck that fails, and the thing is no longer watched. A recheck that fails otherwise (the database is
   * unreachable) leaves it open and is logged: a dashboard fault does not cut people off.
   */
  watch(recheck: AccessRecheck, revoke: (error: AppError) => void): () => void {
    const entry: Watched = { recheck, revoke, checking: false };
    this.watched.add(entry);
    return () => this.watched.delete(entry);
  }

  /**
   * Rechecks everything now, without waiting for the next round: a change made here (a box deleted, its members
   * edited) ends what it takes away with its own reason before anything else about the box changes.
   */
  async recheckNow(): Promise<void> {
    this.recheckAll();
    await Promise.all(this.inFlight);
  }

  get size(): number {
    return this.watched.size;
  }

  private recheckAll(): void {
    for (const entry of this.watched) {
      if (entry.checking) continue; // a slow database: one recheck per open thing at a time
      entry.checking = true;
      const check = entry.recheck().then(
        () => undefined,
        (error: unknown) => {
          if (!isAppError(error) || error.code === 'INTERNAL') {
            log.warn({ err: error }, 'could not recheck access; what is open stays open');
            return;
          }
          if (!this.watched.delete(entry)) return; // unwatched (closed) meanwhile
          entry.revoke(error);
        },
      );
      this.inFlight.add(check);
      void check.finally(() => {
        entry.checking = false;
        this.inFlight.delete(check);
      });
    }
  }
}

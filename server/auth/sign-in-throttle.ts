import { isIP } from 'node:net';
import { recordAudit, systemActor } from '../audit/audit';
import { isUniqueViolation, type Db } from '../db/client';

/**
 * Password guessing limits, checked before better-auth looks at a password (server/auth/auth.ts hooks them on
 * /sign-in/email), kept in the database so every dashboard process on it counts together:
 *
 * - per account at one client address: a few attempts are free, then each further one waits twice as long as the last
 *   (1 s, 2 s, ... 32 s), and after LOCK_AFTER attempts that account is locked **from that address only** for
 *   LOCK_MS. A successful sign-in clears it; left alone it is forgotten FORGET_MS after it would let the next try
 *   through. The real user at another address is never slowed down by an attacker's failures.
 * - per client address, whatever the accounts: at most `attemptsPerMinute` (SIGNIN_ATTEMPTS_PER_MINUTE), so one
 *   address cannot spray passwords over many accounts. IPv6 addresses count by /64, the block one client usually has.
 *
 * Attempts are counted before the password is checked, each with one conditional write, so parallel requests cannot
 * all pass a check that none of them has counted yet. The first refusal of each slow-down or lock is audited
 * (`auth.signin.throttled`: the account tried and the address); the ones after it are counted on the row, so a
 * client hammering a lock cannot flood the audit log.
 */

export const signInThrottlePolicy = {
  /** Attempts at one account from one address that wait for nothing. */
  freeAttempts: 3,
  /** The attempt after which the account is locked from that address. */
  lockAfter: 10,
  lockMs: 15 * 60_000,
  forgetMs: 15 * 60_000,
  addressWindowMs: 60_000,
} as const;

export type ThrottleLimit = 'account-at-address' | 'address';

export interface ThrottleRefusal {
  limit: ThrottleLimit;
  retryAfterSeconds: number;
  /** The account is locked from this address (not just slowed down). */
  locked: boolean;
  message: string;
}

interface ThrottleState {
  attempts: number;
  since: Date;
  retryAt: Date;
}

type Decision = { allowed: true; next: ThrottleState } | { allowed: false; retryAt: Date; locked: boolean };

/** How long an account at an address waits after its `attempts`-th attempt without success. */
export function accountBackoffMs(attempts: number): number {
  const { freeAttempts, lockAfter, lockMs } = signInThrottlePolicy;
  if (attempts <= freeAttempts) return 0;
  if (attempts >= lockAfter) return lockMs;
  return 1000 * 2 ** (attempts - freeAttempts - 1);
}

/** The next state of an account at an address after one more attempt at `now`, or why it must wait. */
export function decideAccountAttempt(row: ThrottleState | null, now: Date): Decision {
  const fresh = !row || now.getTime() >= row.retryAt.getTime() + signInThrottlePolicy.forgetMs;
  if (!fresh && now < row.retryAt) return { allowed: false, retryAt: row.retryAt, locked: row.attempts >= signInThrottlePolicy.lockAfter };
  const attempts = fresh ? 1 : row.attempts + 1;
  return { allowed: true, next: { attempts, since: now, retryAt: new Date(now.getTime() + accountBackoffMs(attempts)) } };
}

/** The next state of an address after one more attempt at `now`: a fixed minute of `perMinute` attempts. */
export function decideAddressAttempt(row: ThrottleState | null, now: Date, perMinute: number): Decision {
  const { addressWindowMs } = signInThrottlePolicy;
  const fresh = !row || now.getTime() >= row.since.getTime() + addressWindowMs;
  if (!fresh && now < row.retryAt) return { allowed: false, retryAt: row.retryAt, locked: false };
  const since = fresh ? now : row.since;
  const attempts = fresh ? 1 : row.attempts + 1;
  return { allowed: true, next: { attempts, since, retryAt: attempts >= perMinute ? new Date(since.getTime() + addressWindowMs) : now } };
}

/** The part of an address that one client holds: the address itself, or its /64 for IPv6. */
export function addressBucket(address: string): string {
  if (isIP(address) !== 6) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = address.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((group) => group.padStart(4, '0')).join(':')}::/64`;
}

/** Conditional writes that lost a race with another attempt are retried this often before the attempt is refused. */
const MAX_RACES = 8;

export class SignInThrottle {
  private lastPrune = 0;

  constructor(
    private readonly db: Db,
    private readonly attemptsPerMinute: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Counts one sign-in attempt at `email` from `address`; a refusal says how long to wait (and is audited once). */
  async attempt(email: string, address: string): Promise<ThrottleRefusal | null> {
    const account = normalizeEmail(email);
    const bucket = addressBucket(address);
    const byAddress = await this.consume(`address:${bucket}`, (row, now) => decideAddressAttempt(row, now, this.attemptsPerMinute));
    const refused = byAddress ?? (await this.consume(accountKey(bucket, account), decideAccountAttempt));
    if (!refused) {
      await this.prune();
      return null;
    }
    const limit: ThrottleLimit = byAddress ? 'address' : 'account-at-address';
    const retryAfterSeconds = Math.max(1, Math.ceil((refused.retryAt.getTime() - this.now().getTime()) / 1000));
    if (refused.first) {
      await recordAudit(this.db, {
        actor: systemActor,
        action: 'auth.signin.throttled',
        detail: { account, address, limit, locked: refused.locked, retryAfterSeconds },
        result: 'error',
        error: 'sign-in refused: too many attempts',
      });
    }
    return { limit, retryAfterSeconds, locked: refused.locked, message: refusalMessage(limit, refused.locked, retryAfterSeconds) };
  }

  /** A successful sign-in: this account starts afresh from this address. */
  async succeeded(email: string, address: string): Promise<void> {
    await this.db.signInThrottle.deleteMany({ where: { key: accountKey(addressBucket(address), normalizeEmail(email)) } });
  }

  /** Applies `decide` to the row with one conditional write; null when let through, else when and whether first refused. */
  private async consume(key: string, decide: (row: ThrottleState | null, now: Date) => Decision): Promise<{ retryAt: Date; locked: boolean; first: boolean } | null> {
    for (let race = 0; race < MAX_RACES; race++) {
      const row = await this.db.signInThrottle.findUnique({ where: { key } });
      const decision = decide(row, this.now());
      if (!decision.allowed) {
        // Only the attempt that moves `refused` from 0 is the first one refused in this wait.
        const first = await this.db.signInThrottle.updateMany({ where: { key, retryAt: decision.retryAt, refused: 0 }, data: { refused: 1 } });
        if (first.count === 0) await this.db.signInThrottle.updateMany({ where: { key }, data: { refused: { increment: 1 } } });
        return { retryAt: decision.retryAt, locked: decision.locked, first: first.count === 1 };
      }
      const data = { ...decision.next, refused: 0 };
      if (!row) {
        // Another attempt created it first: decide again on its row.
        const created = await this.db.signInThrottle.create({ data: { key, ...data } }).then(
          () => true,
          (error: unknown) => {
            if (isUniqueViolation(error)) return false;
            throw error;
          },
        );
        if (created) return null;
      } else {
        const updated = await this.db.signInThrottle.updateMany({ where: { key, attempts: row.attempts, since: row.since }, data });
        if (updated.count === 1) return null;
      }
    }
    // Many attempts on one key at the same moment: the client is far past any limit.
    return { retryAt: new Date(this.now().getTime() + 1000), locked: false, first: false };
  }

  /** Drops rows that no longer hold anything back, at most once a minute per process. */
  private async prune(): Promise<void> {
    const now = this.now().getTime();
    if (now - this.lastPrune < signInThrottlePolicy.addressWindowMs) return;
    this.lastPrune = now;
    await this.db.signInThrottle.deleteMany({ where: { retryAt: { lt: new Date(now - signInThrottlePolicy.forgetMs) } } });
  }
}

function accountKey(bucket: string, account: string): string {
  return `account:${bucket}|${account}`;
}

/** The account as better-auth looks it up; an absurdly long one is still one key of bounded size. */
function normalizeEmail(email: string): string {
  return email.trim().toLowerCase().slice(0, 320);
}

function refusalMessage(limit: ThrottleLimit, locked: boolean, seconds: number): string {
  const wait = seconds >= 120 ? `${Math.ceil(seconds / 60)} minutes` : `${seconds} second${seconds === 1 ? '' : 's'}`;
  if (limit === 'address') return `Too many sign-in attempts from your address; wait ${wait} and try again.`;
  if (locked) return `Too many failed sign-ins to this account from your address: it is locked from here for ${wait}; an admin can see the attempts in the audit log.`;
  return `Too many failed sign-ins to this account from your address; wait ${wait} and try again.`;
}

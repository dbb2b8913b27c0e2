// The sign-in limits over real HTTP on the real edge and database, each client a real socket from its own loopback
// address: forwarding headers a client sends change nothing, an attacker's failures slow down and lock only their own
// address, the real user signs in from theirs, and a trusted proxy's forwarded address is the one counted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, type Answer } from '../../testing/helpers/http';
import { startBackend, type Backend } from '../../testing/helpers/terminals';
import { loadEnv } from '../env';
import { accountBackoffMs, decideAccountAttempt, SignInThrottle, signInThrottlePolicy } from './sign-in-throttle';

const PASSWORD = 'terminal-test-password'; // testing/helpers/terminals.ts signs everyone in with it
const WRONG = 'not-the-password';
const { freeAttempts, lockAfter, lockMs } = signInThrottlePolicy;

interface Dashboard {
  base: string;
  /** The dashboard's public origin, which its sign-in page sends. */
  origin: string;
}

function signInFrom({ base, origin }: Dashboard, from: string, email: string, password: string, headers: Record<string, string> = {}): Promise<Answer> {
  return httpRequest(`${base}/api/auth/sign-in/email`, { method: 'POST', from, headers: { origin, ...headers }, body: { email, password } });
}

/** Fails `count` times from `from` (each must be a plain wrong-password 401, not yet a refusal). */
async function failTimes(base: Dashboard, from: string, email: string, count: number, headers: (i: number) => Record<string, string> = () => ({})): Promise<void> {
  for (let i = 0; i < count; i++) {
    const answer = await signInFrom(base, from, email, WRONG, headers(i));
    expect({ i, status: answer.status }).toEqual({ i, status: 401 });
  }
}

function expectRefused(answer: Answer, sentence: RegExp): void {
  expect(answer.status).toBe(429);
  expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect((JSON.parse(answer.body) as { message: string }).message).toMatch(sentence);
}

describe('sign-in limits, straight to the dashboard', () => {
  let backend: Backend;
  let base: Dashboard;
  let admin: string;

  beforeAll(async () => {
    backend = await startBackend({ SIGNIN_ATTEMPTS_PER_MINUTE: '6' });
    base = { base: (await backend.listen()).replace(/^ws:/, 'http:'), origin: backend.origin };
    admin = backend.admin.user.email;
  });
  afterAll(() => backend?.stop());

  const throttled = (where: object) => backend.services.db.auditEvent.findMany({ where: { action: 'auth.signin.throttled', ...where }, orderBy: { at: 'asc' } });

  it('counts a client by its socket: a new X-Forwarded-For per guess neither adds attempts elsewhere nor starts a new bucket', async () => {
    const spoofed = (i: number) => ({ 'x-forwarded-for': `198.51.100.${i + 1}`, 'x-real-ip': `198.51.100.${i + 1}`, forwarded: `for=198.51.100.${i + 1}` });
    await failTimes(base, '127.0.0.2', admin, freeAttempts + 1, spoofed);
    // The next guess, with yet another header value, waits: the bucket is 127.0.0.2's whatever the headers say.
    expectRefused(await signInFrom(base, '127.0.0.2', admin, WRONG, spoofed(99)), /^Too many failed sign-ins to this account from your address; wait \d+ seconds? and try again\.$/);
    // It claimed to be 127.0.0.3 too: that address has no attempts and the admin signs in from it.
    await failTimes(base, '127.0.0.2', 'nobody@example.com', 1, () => ({ 'x-forwarded-for': '127.0.0.3' }));
    expect((await signInFrom(base, '127.0.0.3', admin, PASSWORD)).status).toBe(200);

    const [refusal, ...more] = await throttled({});
    expect(more).toEqual([]);
    expect([refusal!.actorEmail, refusal!.result, JSON.parse(refusal!.detail)]).toEqual([
      null,
      'error',
      { account: admin, address: '127.0.0.2', limit: 'account-at-address', locked: false, retryAfterSeconds: expect.any(Number) },
    ]);
  });

  it('refuses the attacker\'s address even with the right password, while the admin signs in from another', async () => {
    const alice = await backend.addUser('alice@example.com');
    await failTimes(base, '127.0.0.4', alice.user.email, freeAttempts + 1);
    expectRefused(await signInFrom(base, '127.0.0.4', alice.user.email, PASSWORD), /from your address/);
    const real = await signInFrom(base, '127.0.0.5', alice.user.email, PASSWORD);
    expect(real.status).toBe(200);
    expect(JSON.stringify(real.headers['set-cookie'])).toContain('session_token=');
    // Another account from the attacker's address is not slowed by alice's failures.
    expect((await signInFrom(base, '127.0.0.4', admin, PASSWORD)).status).toBe(200);
    // A success clears that account at that address: alice's own typos after signing in start afresh.
    await failTimes(base, '127.0.0.5', alice.user.email, freeAttempts + 1);
  });

  it('caps one address over all accounts, so spraying many accounts from it stops too', async () => {
    const { SIGNIN_ATTEMPTS_PER_MINUTE: perMinute } = backend.services.env;
    for (let i = 0; i < perMinute; i++) await failTimes(base, '127.0.0.6', `sprayed-${i}@example.com`, 1);
    expectRefused(await signInFrom(base, '127.0.0.6', 'sprayed-new@example.com', WRONG), /^Too many sign-in attempts from your address; wait \d+ seconds? and try again\.$/);
    expectRefused(await signInFrom(base, '127.0.0.6', admin, PASSWORD), /from your address/);
    expect((await signInFrom(base, '127.0.0.7', admin, PASSWORD)).status).toBe(200);
    expect((await throttled({})).map((event) => JSON.parse(event.detail) as { address: string; limit: string }).filter((d) => d.address === '127.0.0.6')).toEqual([
      expect.objectContaining({ limit: 'address', account: 'sprayed-new@example.com' }),
    ]);
  });

  it('lets no more guesses through when they are fired in parallel than one after another', async () => {
    const answers = await Promise.all(Array.from({ length: 12 }, () => signInFrom(base, '127.0.0.8', 'parallel@example.com', WRONG)));
    expect(answers.filter((answer) => answer.status === 401).length).toBeLessThanOrEqual(freeAttempts + 1);
    expect(answers.every((answer) => answer.status === 401 || answer.status === 429)).toBe(true);
  });

  it('slows down, then locks that account from that address only, and forgets it later (the throttle on the database, time moved on)', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const throttle = new SignInThrottle(backend.services.db, 1000, () => new Date(now));
    let attempts = 0;
    // Each attempt waits exactly its backoff: always let through, until the lock.
    while (attempts < lockAfter) {
      expect(await throttle.attempt('bob@example.com', '192.0.2.1')).toBeNull();
      attempts++;
      now += accountBackoffMs(attempts);
      if (attempts < lockAfter) expect(accountBackoffMs(attempts)).toBeLessThan(60_000);
    }
    now -= accountBackoffMs(attempts) - 1000; // one second into the lock
    const locked = await throttle.attempt('bob@example.com', '192.0.2.1');
    expect(locked).toMatchObject({ limit: 'account-at-address', locked: true, retryAfterSeconds: lockMs / 1000 - 1 });
    expect(locked!.message).toBe('Too many failed sign-ins to this account from your address: it is locked from here for 15 minutes; an admin can see the attempts in the audit log.');
    expect(await throttle.attempt('BOB@example.com ', '192.0.2.1')).toMatchObject({ locked: true });
    expect(await throttle.attempt('bob@example.com', '192.0.2.2')).toBeNull();
    // One audit event for the lock, however often it is hammered.
    expect((await throttled({})).filter((event) => JSON.parse(event.detail).address === '192.0.2.1')).toHaveLength(1);
    now += lockMs + signInThrottlePolicy.forgetMs;
    expect(decideAccountAttempt(null, new Date(now))).toMatchObject({ allowed: true, next: { attempts: 1 } });
    expect(await throttle.attempt('bob@example.com', '192.0.2.1')).toBeNull();
  });

  it('counts IPv6 clients by their /64', async () => {
    const throttle = new SignInThrottle(backend.services.db, 2);
    expect(await throttle.attempt('v6@example.com', '2001:db8:1:2::a')).toBeNull();
    expect(await throttle.attempt('v6-other@example.com', '2001:db8:1:2:ffff::b')).toBeNull();
    expect(await throttle.attempt('v6-third@example.com', '2001:db8:1:2::c')).toMatchObject({ limit: 'address' });
    expect(await throttle.attempt('v6-third@example.com', '2001:db8:1:3::c')).toBeNull();
  });
});

describe('sign-in limits behind a trusted proxy', () => {
  let backend: Backend;
  let base: Dashboard;
  const PROXY = '127.0.0.10';

  beforeAll(async () => {
    backend = await startBackend({ BOXYARD_TRUSTED_PROXIES: `${PROXY}, 10.9.0.0/16` });
    base = { base: (await backend.listen()).replace(/^ws:/, 'http:'), origin: backend.origin };
  });
  afterAll(() => backend?.stop());

  const sessionAddress = async (answer: Answer) => {
    const cookie = [answer.headers['set-cookie']].flat().find((line) => line?.includes('session_token='));
    const token = decodeURIComponent(cookie!.split(';')[0]!.split('=')[1]!).split('.')[0]!;
    return (await backend.services.db.session.findUniqueOrThrow({ where: { token } })).ipAddress;
  };

  it('honours the address the trusted proxy forwarded (the right-most one that is not a proxy) and ignores what the client wrote before it', async () => {
    const admin = backend.admin.user.email;
    // The client claimed 203.0.113.1; the proxy appended the real peer 198.51.100.7, then an inner proxy hop.
    const viaProxy = (client: string) => ({ 'x-forwarded-for': `203.0.113.1, ${client}, 10.9.3.4` });
    await failTimes(base, PROXY, admin, freeAttempts + 1, () => viaProxy('198.51.100.7'));
    expectRefused(await signInFrom(base, PROXY, admin, PASSWORD, viaProxy('198.51.100.7')), /from your address/);
    // Another client behind the same proxy is another address.
    const other = await signInFrom(base, PROXY, admin, PASSWORD, viaProxy('198.51.100.8'));
    expect(other.status).toBe(200);
    expect(await sessionAddress(other)).toBe('198.51.100.8');
    const audit = await backend.services.db.auditEvent.findFirstOrThrow({ where: { action: 'auth.signin.throttled' } });
    expect(JSON.parse(audit.detail)).toMatchObject({ address: '198.51.100.7' });
  });

  it('ignores X-Forwarded-For from a client that is not a listed proxy', async () => {
    const direct = await signInFrom(base, '127.0.0.11', backend.admin.user.email, PASSWORD, { 'x-forwarded-for': '198.51.100.9' });
    expect(direct.status).toBe(200);
    expect(await sessionAddress(direct)).toBe('127.0.0.11');
  });

  it('refuses a proxy list it cannot read at start-up, in one sentence per entry', () => {
    expect(() => loadEnv({ BOXYARD_TRUSTED_PROXIES: '10.0.0.1, proxy.example, 10.0.0.0/33' })).toThrow(
      'Invalid configuration, fix these environment variables:\n' +
        '  BOXYARD_TRUSTED_PROXIES: "proxy.example" is not an IP address or a CIDR range such as 10.0.0.5, 10.0.0.0/24 or fd00::/8.\n' +
        '  BOXYARD_TRUSTED_PROXIES: "10.0.0.0/33" is not an IP address or a CIDR range such as 10.0.0.5, 10.0.0.0/24 or fd00::/8.',
    );
    expect(loadEnv({ BOXYARD_TRUSTED_PROXIES: ' 10.0.0.1 ,fd00::/8' }).BOXYARD_TRUSTED_PROXIES).toEqual([
      { address: '10.0.0.1', prefix: 32, family: 'ipv4' },
      { address: 'fd00::', prefix: 8, family: 'ipv6' },
    ]);
  });
});

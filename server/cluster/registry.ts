import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Db } from '../db/client';
import { AppError } from '../errors';
import { logger } from '../log';
import { errorMessage } from '../../lib/errors';
import { KeptConnection } from './kept-connection';

const log = logger.child({ module: 'cluster' });

/**
 * The dashboard processes sharing one database, as this process sees them. Boxes are spread over `live()`: each is
 * sampled by the one member that `owns()` it.
 */
export interface Membership {
  readonly runnerId: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Runner ids of the live processes, sorted; empty while this process's own heartbeat is not current. */
  live(): readonly string[];
  /** This process's registration is renewed within its ttl: the others count it as live. */
  heartbeatCurrent(): boolean;
  /** Whether this process is the one for `key` (a box id) among the live ones. */
  owns(key: string): boolean;
  /** Called after each change of `live()`, with the runner ids that left it. */
  onChange(listener: (gone: readonly string[]) => void): void;
  /** Records where the other processes reach this one's internal routes (once it listens). */
  advertise(address: string): Promise<void>;
}

/**
 * Rendezvous (highest random weight) hashing: the member whose hash with the key is highest. Every process computes
 * the same answer from the same member list, and a member joining or leaving moves only the keys it wins or held
 * (a fair share), never reshuffles the rest.
 */
export function rendezvousOwner(key: string, members: readonly string[]): string | null {
  let best: string | null = null;
  let bestScore = -1n;
  for (const member of members) {
    const score = createHash('sha256').update(member).update('\0').update(key).digest().readBigUInt64BE(0);
    if (score > bestScore || (score === bestScore && best !== null && member < best)) {
      best = member;
      bestScore = score;
    }
  }
  return best;
}

/** One dashboard on SQLite: alone by construction, it owns everything (sampling stays as it always was). */
export class SingleProcess implements Membership {
  constructor(readonly runnerId: string) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  live(): readonly string[] {
    return [this.runnerId];
  }
  heartbeatCurrent(): boolean {
    return true;
  }
  owns(): boolean {
    return true;
  }
  onChange(): void {}
  async advertise(): Promise<void> {}
}

export interface RegistryOptions {
  runnerId: string;
  /** How often this process renews its row and reads the others'. */
  heartbeatMs?: number;
  /** A row not renewed for this long is a dead process: its boxes go to the others. */
  ttlMs?: number;
  /**
   * Local elapsed time, only to know how long ago this process's own last heartbeat went through; every expiry is
   * computed and compared by the database's clock, so processes whose clocks disagree still agree on who is live.
   */
  now?: () => number;
  /**
   * With the database's URL, the process also keeps an idle connection of its own named after its start
   * (`application_name`), and a process whose heartbeat is late and that has no such connection any more is dead at
   * once rather than after its ttl: a killed process's connections close with it (see `presence`).
   */
  databaseUrl?: string;
}

/** How a process start names its presence connection: this and its instance (pg_stat_activity.application_name). */
const PRESENCE_PREFIX = 'boxyard-process ';

/**
 * The dashboard processes on one PostgreSQL database (raw SQL: `now()` is the database's clock; Prisma stores UTC
 * in columns without a time zone, hence `AT TIME ZONE 'UTC'`), each with a row in dashboard_process renewed every heartbeat.
 * Start registers (or takes over the row of a dead process of the same runner id) and refuses a second live process
 * of the same id; stop deletes the row, so the others take its boxes at their next heartbeat instead of after ttl.
 */
export class ProcessRegistry implements Membership {
  readonly runnerId: string;
  /** This start of the process: what a terminal session it opened records, so one left by a dead start is told apart. */
  readonly instance = randomBytes(8).toString('hex');
  private address: string | null = null;
  private readonly heartbeatMs: number;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private members: readonly string[] = [];
  /** Local time when the last heartbeat that went through was sent; null before the first. */
  private lastBeat: number | null = null;
  private readonly listeners: ((gone: readonly string[]) => void)[] = [];
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> | null = null;
  /**
   * An idle connection named after this start: PostgreSQL drops it the moment the process dies (SIGKILL included),
   * long before the registration runs out, which tells the others.
   */
  private readonly presence: KeptConnection | null;

  constructor(
    private readonly db: Db,
    options: RegistryOptions,
  ) {
    this.runnerId = options.runnerId;
    this.heartbeatMs = options.heartbeatMs ?? 2_000;
    this.ttlMs = options.ttlMs ?? 9_000;
    this.now = options.now ?? (() => performance.now());
    this.presence = options.databaseUrl
      ? new KeptConnection({ databaseUrl: options.databaseUrl, purpose: 'the presence connection', applicationName: PRESENCE_PREFIX + this.instance })
      : null;
  }

  /** Registers this process, or throws CONFLICT while another live process has the same runner id. */
  async start(): Promise<void> {
    if (this.timer) return;
    const sent = this.now();
    if (!(await this.register())) throw await this.refusal();
    // Not awaited: until it is up, others judge this process by its heartbeat alone (the next tries follow by themselves).
    this.presence?.start().catch((error: unknown) => log.warn({ err: errorMessage(error) }, 'could not open the presence connection; trying again'));
    this.lastBeat = sent;
    await this.readMembers();
    log.info({ runner: this.runnerId, live: this.members }, 'dashboard process registered');
    this.timer = setInterval(() => void this.heartbeat(), this.heartbeatMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.beating;
    this.lastBeat = null;
    await this.presence?.stop();
    await this.db.$executeRaw`DELETE FROM dashboard_process WHERE "runnerId" = ${this.runnerId} AND instance = ${this.instance}`;
  }

  live(): readonly string[] {
    return this.heartbeatCurrent() ? this.members : [];
  }

  heartbeatCurrent(): boolean {
    // Measured from when the heartbeat was sent: the row it renewed expires no earlier than ttl after that.
    return this.lastBeat !== null && this.now() - this.lastBeat < this.ttlMs;
  }

  owns(key: string): boolean {
    return rendezvousOwner(key, this.live()) === this.runnerId;
  }

  onChange(listener: (gone: readonly string[]) => void): void {
    this.listeners.push(listener);
  }

  async advertise(address: string): Promise<void> {
    this.address = address;
    await this.db.$executeRaw`UPDATE dashboard_process SET address = ${address} WHERE "runnerId" = ${this.runnerId} AND instance = ${this.instance}`;
  }

  /** One renewal and read of the members; a failure is logged and leaves the heartbeat to run out. */
  heartbeat(): Promise<void> {
    this.beating ??= this.beat()
      .catch((error: unknown) => log.warn({ runner: this.runnerId, err: errorMessage(error) }, 'dashboard process heartbeat failed'))
      .finally(() => {
        this.beating = null;
      });
    return this.beating;
  }

  private async beat(): Promise<void> {
    const sent = this.now();
    const renewed = await this.db.$executeRaw`
      UPDATE dashboard_process SET "heartbeatAt" = (now() AT TIME ZONE 'UTC'), "expiresAt" = (now() AT TIME ZONE 'UTC') + ${this.ttlMs}::integer * interval '1 millisecond'
      WHERE "runnerId" = ${this.runnerId} AND instance = ${this.instance}`;
    // Our row was taken over (this process was silent past its ttl and a new start of the same id came): register
    // again only if that one is dead too.
    if (renewed === 0 && !(await this.register())) {
      log.error({ runner: this.runnerId }, 'another dashboard process took over this runner id: this one samples nothing any more');
      this.lastBeat = null;
    } else this.lastBeat = sent;
    await this.readMembers();
  }

  private async readMembers(): Promise<void> {
    // A registration counts until it expires; sooner gone is one whose heartbeat is late (missed one and a half) and
    // whose presence connection is gone: the process died. Judged only once this process's own presence connection
    // has been up for a ttl, so that after a database restart the others have had time to connect again.
    const judgePresence = (this.presence?.upForMs() ?? 0) >= this.ttlMs;
    const lateMs = Math.round(this.heartbeatMs * 1.5);
    const rows = await this.db.$queryRaw<{ runnerId: string }[]>`
      SELECT "runnerId" FROM dashboard_process p WHERE "expiresAt" > (now() AT TIME ZONE 'UTC')
        AND (NOT ${judgePresence}::boolean OR "heartbeatAt" > (now() AT TIME ZONE 'UTC') - ${lateMs}::integer * interval '1 millisecond'
          OR EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.application_name = ${PRESENCE_PREFIX} || p.instance))
      ORDER BY "runnerId"`;
    const before = this.live();
    this.members = rows.map((row) => row.runnerId);
    const after = this.live();
    if (before.join('\n') === after.join('\n')) return;
    const gone = before.filter((id) => !after.includes(id));
    log.info({ runner: this.runnerId, live: after, gone }, 'dashboard processes changed');
    for (const listener of this.listeners) listener(gone);
  }

  /** Takes the runner id's row if it is free or expired; false while a live process holds it. */
  private async register(): Promise<boolean> {
    const took = await this.db.$executeRaw`
      UPDATE dashboard_process SET host = ${os.hostname()}, pid = ${process.pid}, instance = ${this.instance}, address = ${this.address},
        "startedAt" = (now() AT TIME ZONE 'UTC'), "heartbeatAt" = (now() AT TIME ZONE 'UTC'), "expiresAt" = (now() AT TIME ZONE 'UTC') + ${this.ttlMs}::integer * interval '1 millisecond'
      WHERE "runnerId" = ${this.runnerId} AND ("expiresAt" <= (now() AT TIME ZONE 'UTC') OR instance = ${this.instance})`;
    if (took === 1) return true;
    const inserted = await this.db.$executeRaw`
      INSERT INTO dashboard_process ("runnerId", host, pid, instance, address, "startedAt", "heartbeatAt", "expiresAt")
      VALUES (${this.runnerId}, ${os.hostname()}, ${process.pid}, ${this.instance}, ${this.address}, (now() AT TIME ZONE 'UTC'), (now() AT TIME ZONE 'UTC'), (now() AT TIME ZONE 'UTC') + ${this.ttlMs}::integer * interval '1 millisecond')
      ON CONFLICT ("runnerId") DO NOTHING`;
    return inserted === 1;
  }

  private async refusal(): Promise<AppError> {
    const [holder] = await this.db.$queryRaw<{ host: string; pid: number; silentS: number }[]>`
      SELECT host, pid, EXTRACT(EPOCH FROM ((now() AT TIME ZONE 'UTC') - "heartbeatAt"))::float8 AS "silentS" FROM dashboard_process WHERE "runnerId" = ${this.runnerId}`;
    const who = holder ? ` (pid ${holder.pid} on ${holder.host}, heartbeat ${Math.round(holder.silentS)} s ago)` : '';
    return new AppError(
      'CONFLICT',
      `Another dashboard process is running with the runner id "${this.runnerId}"${who}: give each process its own JOB_RUNNER_ID, or stop that one first.`,
    );
  }
}

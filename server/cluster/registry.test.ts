// The process registry on PostgreSQL: registration and refusal of a second live process with the same runner id,
// expiry of a silent process by the database's clock (a process whose own clock is 30 s off changes nothing), a
// clean leave on stop, a killed process gone within seconds (its presence connection closed), and rendezvous
// ownership: every box has exactly one owner, a join moves only a fair share.
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { isAppError } from '../errors';
import { testDatabases } from '../../testing/helpers/databases';
import { until } from '../../testing/helpers/wait';
import { REPO_DIR, startProcess } from '../../testing/helpers/process';
import { ProcessRegistry, rendezvousOwner } from './registry';

const REGISTRY_MEMBER = path.join(REPO_DIR, 'testing', 'fixtures', 'processes', 'registry-member.ts');

const boxIds = Array.from({ length: 600 }, (_, i) => `box-${i}`);

describe('rendezvous ownership', () => {
  it('gives each key one owner, spread fairly, and a join moves only about its share', () => {
    const three = ['a', 'b', 'c'];
    const owners = boxIds.map((id) => rendezvousOwner(id, three));
    for (const member of three) expect(owners.filter((owner) => owner === member).length).toBeGreaterThan(150);
    const four = [...three, 'd'];
    const moved = boxIds.filter((id, i) => rendezvousOwner(id, four) !== owners[i]);
    // Only keys the newcomer wins move (a quarter, give or take), and all of them to the newcomer.
    expect(moved.length).toBeGreaterThan(100);
    expect(moved.length).toBeLessThan(200);
    expect(new Set(moved.map((id) => rendezvousOwner(id, four)))).toEqual(new Set(['d']));
    expect(rendezvousOwner('x', [])).toBeNull();
  });
});

describe('process registry on postgres', () => {
  const newDatabase = testDatabases('postgres', 'registry');
  let db: Db | null = null;
  let url = '';
  const started: ProcessRegistry[] = [];
  const registry = (runnerId: string, options: Partial<ConstructorParameters<typeof ProcessRegistry>[1]> = {}) => {
    const created = new ProcessRegistry(db!, { runnerId, heartbeatMs: 200, ttlMs: 1_500, ...options });
    started.push(created);
    return created;
  };

  // Each test its own database: the processes of one never see those of another.
  beforeEach(async () => {
    url = await newDatabase();
    await applyMigrations(url);
    db = createDb(url);
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((one) => one.stop()));
    await db?.$disconnect();
  });

  it('refuses a second live process with the same runner id, in a plain sentence', async () => {
    const first = registry('dup');
    await first.start();
    const error = await registry('dup').start().catch((caught: unknown) => caught);
    expect(isAppError(error, 'CONFLICT')).toBe(true);
    expect((error as Error).message).toMatch(/^Another dashboard process is running with the runner id "dup" \(pid \d+ on .+, heartbeat \d+ s ago\): give each process its own JOB_RUNNER_ID, or stop that one first\.$/);
    await first.stop();
    // Stopped: the id is free again at once.
    await registry('dup').start();
  });

  it('processes whose clocks are 30 s apart agree on who is live and own disjoint boxes covering all', async () => {
    const ahead = registry('skew-ahead', { now: () => performance.now() + 30_000 });
    const behind = registry('skew-behind', { now: () => performance.now() - 30_000 });
    await ahead.start();
    await behind.start();
    await until(() => ahead.live().includes('skew-behind') && behind.live().includes('skew-ahead'), 'both to see each other', 5_000);
    expect(ahead.live()).toEqual(behind.live());
    const ownersOf = (id: string) => [ahead, behind].filter((one) => one.owns(id)).length;
    expect(boxIds.map(ownersOf).every((count) => count === 1)).toBe(true);
    // The stored times are the database's: renewed within the last second of its clock, whatever the processes' clocks.
    const [row] = await db!.$queryRaw<{ behindMs: number }[]>`
      SELECT EXTRACT(EPOCH FROM ((now() AT TIME ZONE 'UTC') - "heartbeatAt"))::float8 * 1000 AS "behindMs" FROM dashboard_process WHERE "runnerId" = 'skew-ahead'`;
    expect(Math.abs(row!.behindMs)).toBeLessThan(1_000);
    await Promise.all([ahead.stop(), behind.stop()]);
  });

  it('a silent process drops out after its ttl, and the others take its boxes, hearing who left', async () => {
    const watcher = registry('watcher');
    const gone: string[] = [];
    watcher.onChange((left) => gone.push(...left));
    // Registers, then never renews within the ttl: a process that was killed.
    const silent = registry('silent', { heartbeatMs: 60_000 });
    await silent.start();
    await watcher.start();
    await until(() => watcher.live().includes('silent'), 'the watcher to see the silent one', 2_000);
    const silentsBoxes = boxIds.filter((id) => rendezvousOwner(id, watcher.live()) === 'silent');
    expect(silentsBoxes.length).toBeGreaterThan(0);
    expect(silentsBoxes.some((id) => watcher.owns(id))).toBe(false);
    await until(() => !watcher.live().includes('silent'), 'the silent one to expire', 4_000);
    expect(gone).toContain('silent');
    expect(silentsBoxes.every((id) => watcher.owns(id))).toBe(true);
    // And the silent one, its heartbeat out of date, owns nothing (it would sample boxes the others took).
    expect(silent.heartbeatCurrent()).toBe(false);
    expect(boxIds.some((id) => silent.owns(id))).toBe(false);
    await watcher.stop();
  });

  it('a killed process is gone within seconds, long before its 60 s ttl: its presence connection closed with it', async () => {
    const watcher = registry('watcher', { databaseUrl: url });
    await watcher.start();
    const member = startProcess(process.execPath, ['--import', 'tsx', REGISTRY_MEMBER, url, 'killed']);
    try {
      await until(() => member.stdout().includes('registered'), 'the member process to register', 30_000);
      await until(() => watcher.live().includes('killed'), 'the member to be seen', 5_000);
    } catch (error) {
      member.kill('SIGKILL');
      throw new Error(`${String(error)}\n${(await member.exited).stderr}`);
    }
    member.kill('SIGKILL');
    await member.exited;
    await until(() => !watcher.live().includes('killed'), 'the killed process to be gone', 10_000);
    // Gone while its registration is still current: by its presence, not by its ttl.
    const [row] = await db!.$queryRaw<{ current: boolean }[]>`SELECT "expiresAt" > (now() AT TIME ZONE 'UTC') AS current FROM dashboard_process WHERE "runnerId" = 'killed'`;
    expect(row?.current).toBe(true);
    await watcher.stop();
  }, 60_000);

  it('a stopped process leaves at once: the others see it gone at their next heartbeat', async () => {
    const stays = registry('stays');
    const leaves = registry('leaves', { ttlMs: 60_000 });
    await stays.start();
    await leaves.start();
    await until(() => stays.live().includes('leaves'), 'the other one to be seen', 2_000);
    await leaves.stop();
    await until(() => !stays.live().includes('leaves'), 'the stopped one to be gone', 1_000);
    await stays.stop();
  });
});

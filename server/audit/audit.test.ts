import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { providers, testDatabases } from '../../testing/helpers/databases';
import { AUDIT_EXPORT_MAX_ROWS, exportAudit, pageAudit, recordAudit, type AuditFilter } from './audit';

/** The audit page's filters, pages and exports, on SQLite and PostgreSQL: each returns exactly the matching rows. */
describe.each(providers)('audit filters, pages and export (%s)', (provider) => {
  const newDatabase = testDatabases(provider, 'audit');
  let db: Db;
  const alice = { id: 'u-alice', email: 'alice@example.com' };
  const bob = { id: 'u-bob', email: 'bob@example.com' };
  const web = { id: 'box-web', name: 'web' };
  const db1 = { id: 'box-db', name: 'db' };
  const hour = 3_600_000;
  const start = Date.UTC(2026, 0, 1);

  beforeAll(async () => {
    const url = await newDatabase();
    await applyMigrations(url);
    db = createDb(url);
    // 40 events: alternating people and boxes, every fifth an error, every fourth on host kvm1, one hour apart.
    for (let i = 0; i < 40; i++) {
      await recordAudit(db, {
        actor: i % 7 === 0 ? { id: null, email: null } : i % 2 ? alice : bob,
        action: i % 3 === 0 ? 'box.update' : `ssh.exec.${i % 2 ? 'facts' : 'status'}`,
        box: i % 2 ? web : db1,
        detail: { ...(i % 4 === 0 ? { hostId: 'host-kvm1', hostName: 'kvm1' } : {}), n: i, command: i === 5 ? '=HYPERLINK("x"),"quoted"\nline' : `echo ${i}` },
        result: i % 5 === 0 ? 'error' : 'ok',
        error: i % 5 === 0 ? `failed, number ${i}` : undefined,
      });
    }
    const events = await db.auditEvent.findMany({ orderBy: { at: 'asc' } });
    for (const event of events) {
      const n = (JSON.parse(event.detail) as { n: number }).n;
      await db.auditEvent.update({ where: { id: event.id }, data: { at: new Date(start + n * hour) } });
    }
  });

  afterAll(() => db.$disconnect());

  const numbers = (items: { detail: Record<string, unknown> }[]) => items.map((item) => item.detail.n as number);
  const all = Array.from({ length: 40 }, (_, i) => 39 - i);
  const matching = (test: (i: number) => boolean) => all.filter(test);

  it.each<[string, AuditFilter, (i: number) => boolean]>([
    ['a user', { actorEmail: alice.email }, (i) => i % 7 !== 0 && i % 2 === 1],
    ['the dashboard itself', { actorEmail: null }, (i) => i % 7 === 0],
    ['a box', { boxId: web.id }, (i) => i % 2 === 1],
    ['a host', { hostId: 'host-kvm1' }, (i) => i % 4 === 0],
    ['an action prefix', { action: 'ssh.exec.' }, (i) => i % 3 !== 0],
    ['a result', { result: 'error' }, (i) => i % 5 === 0],
    ['a time range (from inclusive, to exclusive)', { from: new Date(start + 10 * hour), to: new Date(start + 20 * hour) }, (i) => i >= 10 && i < 20],
    ['all of them at once', { actorEmail: bob.email, boxId: db1.id, result: 'ok', from: new Date(start + 3 * hour) }, (i) => i % 7 !== 0 && i % 2 === 0 && i % 5 !== 0 && i >= 3],
  ])('filters by %s, newest first', async (_label, filter, test) => {
    const page = await pageAudit(db, filter, { page: 1, pageSize: 200 });
    expect(numbers(page.items)).toEqual(matching(test));
    expect(page.total).toBe(matching(test).length);
  });

  it('pages: numbered pages of the filtered rows, with the total and the page count', async () => {
    const pages = await Promise.all([1, 2, 3].map((page) => pageAudit(db, { boxId: web.id }, { page, pageSize: 8 })));
    expect(pages.map((page) => page.items.length)).toEqual([8, 8, 4]);
    expect(pages[0]).toMatchObject({ total: 20, page: 1, pageCount: 3 });
    expect(pages.flatMap((page) => numbers(page.items))).toEqual(matching((i) => i % 2 === 1));
    expect((await pageAudit(db, { boxId: web.id }, { page: 4, pageSize: 8 })).items).toEqual([]);
  });

  it('exports exactly the filtered rows as JSON and CSV, and audits the export', async () => {
    const filter: AuditFilter = { boxId: web.id, from: new Date(start) };
    const shown = await pageAudit(db, filter, { page: 1, pageSize: 200 });

    const json = await exportAudit(db, alice, filter, 'json');
    expect(json).toMatchObject({ mimeType: 'application/json', rows: shown.total });
    expect(json.filename).toMatch(/^boxyard-audit-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.json$/);
    expect(JSON.parse(json.content)).toEqual(JSON.parse(JSON.stringify(shown.items)));

    const csv = await exportAudit(db, alice, filter, 'csv');
    expect(csv.mimeType).toBe('text/csv');
    expect(csv.content.endsWith('\r\n')).toBe(true);
    const lines = csv.content.split('\r\n').slice(0, -1);
    expect(lines[0]).toBe('at,actorEmail,action,boxId,boxName,result,error,detail');
    // Event 5's command holds a comma, quotes, a newline and a leading "=": quoted, doubled, and kept from a formula.
    const five = shown.items.find((item) => item.detail.n === 5)!;
    const fiveDetail = JSON.stringify(five.detail);
    expect(csv.content).toContain(`"${fiveDetail.replaceAll('"', '""')}"`);
    const rows = csv.content.slice(lines[0]!.length + 2).match(/^\d{4}-\d\d-\d\dT[^,]+,/gm)!;
    expect(rows.map((cell) => cell.slice(0, -1))).toEqual(shown.items.map((item) => item.at.toISOString()));
    expect(lines[1]).toBe(`${shown.items[0]!.at.toISOString()},${alice.email},box.update,${web.id},web,ok,,"{""n"":39,""command"":""echo 39""}"`);
    expect(csv.content).toContain(',error,"failed, number 35",');

    const exports = await db.auditEvent.findMany({ where: { action: 'audit.export' }, orderBy: { at: 'asc' } });
    expect(exports.map((event) => [event.actorEmail, JSON.parse(event.detail).format, JSON.parse(event.detail).rows])).toEqual([
      [alice.email, 'json', shown.total],
      [alice.email, 'csv', shown.total],
    ]);
    expect(JSON.parse(exports[0]!.detail).filter).toEqual({ boxId: web.id, from: new Date(start).toISOString() });
  });

  it('escapes a cell a spreadsheet would run as a formula', async () => {
    await recordAudit(db, { actor: { id: null, email: null }, action: 'box.update', box: { id: 'box-f', name: 'f' }, result: 'error', error: '=1+1' });
    const csv = await exportAudit(db, alice, { boxId: 'box-f' }, 'csv');
    expect(csv.content).toContain(",error,'=1+1,{}\r\n");
  });

  it('refuses an export larger than it may hold, with the count, instead of cutting it short', async () => {
    const at = new Date(start - 1000 * hour);
    await db.auditEvent.createMany({
      data: Array.from({ length: AUDIT_EXPORT_MAX_ROWS + 1 }, () => ({ action: 'box.status', boxId: 'box-many', boxName: 'many', result: 'ok', at })),
    });
    await expect(exportAudit(db, alice, { boxId: 'box-many' }, 'json')).rejects.toMatchObject({
      code: 'BAD_INPUT',
      message: `The filter matches ${AUDIT_EXPORT_MAX_ROWS + 1} events and an export holds at most ${AUDIT_EXPORT_MAX_ROWS}; narrow it (a shorter time range, one user or box).`,
    });
  });
});

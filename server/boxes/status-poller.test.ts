import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import { startMetricsBackend, type MetricsBackend } from '../../testing/helpers/metrics';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { StatusPoller } from './status-poller';

/** The status poller against a real lab box: it checks the boxes this process owns, and only those. */
describe('StatusPoller', () => {
  let backend: MetricsBackend;
  let box: LabBox;

  beforeAll(async () => {
    [box, backend] = await Promise.all([startLabBox({ namePrefix: 'status' }), startMetricsBackend()]);
    await box.authorize(backend.services.dashboardPublicKey);
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    await backend.stop();
    await box.remove();
  });

  it('checks only the boxes it owns: another process checks the rest', async () => {
    const { db, remote } = backend.services;
    const mine = await backend.addBox('checked-here', box);
    const theirs = await backend.addBox('checked-elsewhere', box);
    const statusOf = async (id: string) => (await db.box.findUniqueOrThrow({ where: { id } })).status;
    const before = await statusOf(theirs.id);

    await new StatusPoller({ db, remote, intervalMs: 60_000, owns: (boxId) => boxId === mine.id }).checkAll();
    expect(await statusOf(mine.id)).toBe('online');
    expect(await statusOf(theirs.id)).toBe(before);
    expect(before).not.toBe('online');

    await new StatusPoller({ db, remote, intervalMs: 60_000 }).checkAll();
    expect(await statusOf(theirs.id)).toBe('online');
  }, 60_000);
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { loadEnv } from '../env';
import { startServices, stopServices, type Services } from '../services';
import type { SessionUser } from './access';
import { createBox } from './boxes';
import { StatusPoller } from './status-poller';

/** The status poller against a real lab box: it checks the boxes this process owns, and only those. */
describe('StatusPoller', () => {
  let services: Services;
  let box: LabBox;
  let admin: SessionUser;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-status-'));

  beforeAll(async () => {
    box = await startLabBox({ namePrefix: 'status' });
    ({ services } = await startServices(loadEnv({ BOXYARD_DATA_DIR: dataDir, BOXYARD_ADMIN_PASSWORD: 'status-test-password' }), { pollStatus: false, sampleMetrics: false }));
    await box.authorize(services.dashboardPublicKey);
    const user = await services.db.user.findFirstOrThrow({ where: { role: 'admin' } });
    admin = { id: user.id, email: user.email, name: user.name, role: 'admin' };
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    await stopServices(services);
    await box.remove();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('checks only the boxes it owns: another process checks the rest', async () => {
    const add = (name: string) =>
      createBox(services.db, services.secrets, admin, { name, host: box.host, port: box.port, sshUser: 'dev', tags: [], notes: '', memberIds: [], auth: { method: 'dashboard-key' } });
    const mine = await add('checked-here');
    const theirs = await add('checked-elsewhere');
    const statusOf = async (id: string) => (await services.db.box.findUniqueOrThrow({ where: { id } })).status;
    const before = await statusOf(theirs.id);

    await new StatusPoller({ db: services.db, remote: services.remote, intervalMs: 60_000, owns: (boxId) => boxId === mine.id }).checkAll();
    expect(await statusOf(mine.id)).toBe('online');
    expect(await statusOf(theirs.id)).toBe(before);
    expect(before).not.toBe('online');

    await new StatusPoller({ db: services.db, remote: services.remote, intervalMs: 60_000 }).checkAll();
    expect(await statusOf(theirs.id)).toBe('online');
  }, 60_000);
});

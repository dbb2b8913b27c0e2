import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionUser } from '../boxes/access';
import { providers, testDatabases } from '../../testing/helpers/databases';
import { loadEnv } from '../env';
import { AppError } from '../errors';
import type { HypervisorDriver, VmInfo } from '../hypervisors/driver';
import { startServices, stopServices, type Services } from '../services';
import { enqueueVmAction, type VmDeps } from './lifecycle';

/**
 * Two users acting on one VM at once: exactly one job is queued, the others are told who is already acting, on
 * SQLite and on PostgreSQL. The host is a stand-in that lists one running VM (the jobs are not run here).
 */
describe.each(providers)('one lifecycle action per VM at a time (%s)', (provider) => {
  const database = testDatabases(provider, 'vms');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-vms-race-'));
  let services: Services;
  let admin: SessionUser;
  let hostId: string;
  let state: VmInfo['state'] = 'running';
  const vm = (): VmInfo => ({ id: 'vm-uuid-1', name: 'web-1', state, rawState: state });

  beforeAll(async () => {
    const url = await database();
    ({ services } = await startServices(loadEnv({ BOXYARD_DATA_DIR: dataDir, DATABASE_URL: url, BOXYARD_ADMIN_PASSWORD: 'vms-race-test-password' }), {
      pollStatus: false,
      runJobs: false,
    }));
    const user = await services.db.user.findFirstOrThrow({ where: { role: 'admin' } });
    admin = { id: user.id, email: user.email, name: user.name, role: 'admin' };
    hostId = (await services.db.host.create({ data: { name: 'kvm1', kind: 'libvirt', host: '127.0.0.1', port: 1, sshUser: 'dev' } })).id;
  }, 60_000);

  afterAll(async () => {
    await stopServices(services);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const deps = (): VmDeps => ({
    db: services.db,
    jobs: services.jobs,
    hostRemote: { listVms: async () => [vm()], withDriver: (_host, _actor, _purpose, work) => work({ listVms: async () => [vm()] } as unknown as HypervisorDriver) },
  });

  it('lets exactly one of eight simultaneous requests through and tells the others', async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => enqueueVmAction(deps(), { hostId, vmId: 'vm-uuid-1', action: i % 2 ? 'stop' : 'suspend', actor: admin })),
    );
    const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const lost = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    expect(won).toHaveLength(1);
    for (const { reason } of lost) {
      expect(reason).toBeInstanceOf(AppError);
      expect((reason as AppError).code).toBe('CONFLICT');
      expect((reason as AppError).message).toMatch(/^admin@boxyard\.local is already (suspending|stopping) web-1 \(job \w+, queued\); wait for it to finish or cancel it, then try again\.$/);
    }
    const active = await services.db.job.count({ where: { hostId, status: { in: ['queued', 'running'] } } });
    expect(active).toBe(1);
  });

  it('refuses at once what the state does not allow', async () => {
    await services.db.job.updateMany({ where: { hostId }, data: { status: 'succeeded' } });
    state = 'stopped';
    await expect(enqueueVmAction(deps(), { hostId, vmId: 'vm-uuid-1', action: 'suspend', actor: admin })).rejects.toThrow('web-1 is stopped; nothing to suspend.');
    await expect(enqueueVmAction(deps(), { hostId, vmId: 'gone', action: 'start', actor: admin })).rejects.toThrow('The VM gone no longer exists on host kvm1.');
  });
});

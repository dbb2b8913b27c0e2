import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionUser } from '../boxes/access';
import { createBox } from '../boxes/boxes';
import { loadEnv } from '../env';
import { provisionDocker } from '../provision/provision';
import { startServices, stopServices, type Services } from '../services';
import { createUser } from '../users/users';
import { providers, testDatabases } from '../../testing/helpers/databases';
import { jobFilterOptions, pageJobs } from './jobs';
import { DbJobQueue } from './queue';

/**
 * Retry and cancel from the jobs page, and its filtered pages, on SQLite and PostgreSQL. Jobs are queued through the
 * real domain function (provisionDocker, with its exclusive key) and driven to their end through the real queue
 * (claim, finish) instead of a runner, so each test decides how a job ended.
 */
describe.each(providers)('jobs: retry, cancel and the filtered pages (%s)', (provider) => {
  const database = testDatabases(provider, 'retry');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-retry-'));
  let services: Services;
  let queue: DbJobQueue;
  let admin: SessionUser;
  let developer: SessionUser;
  let box: { id: string; name: string };
  let otherBox: { id: string; name: string };

  beforeAll(async () => {
    const url = await database();
    ({ services } = await startServices(loadEnv({ BOXYARD_DATA_DIR: dataDir, DATABASE_URL: url, BOXYARD_ADMIN_PASSWORD: 'retry-test-password' }), {
      pollStatus: false,
      runJobs: false,
    }));
    const row = await services.db.user.findFirstOrThrow({ where: { role: 'admin' } });
    admin = { id: row.id, email: row.email, name: row.name, role: 'admin' };
    const dev = await createUser(services.db, { email: 'dev@example.com', name: 'dev', password: 'a-long-password', role: 'developer' });
    developer = { id: dev.id, email: dev.email, name: dev.name, role: 'developer' };
    const addBox = (name: string, ownerId?: string) =>
      createBox(services.db, services.secrets, admin, { name, host: '127.0.0.1', port: 1, sshUser: 'dev', tags: [], notes: '', memberIds: [], ownerId, auth: { method: 'dashboard-key' } });
    box = await addBox('retry-box', developer.id);
    otherBox = await addBox('admins-box');
    queue = new DbJobQueue(services.db, { runnerId: 'retry-test', leaseMs: 60_000, provider });
  }, 60_000);

  afterAll(async () => {
    await stopServices(services);
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** Claims the oldest queued job and records it as failed, as a runner would. */
  async function failNext(error: string) {
    const claimed = await queue.claim([]);
    if (!claimed) throw new Error('nothing was queued');
    expect(await queue.finish(claimed, { status: 'failed', error })).toBe(true);
    return claimed.id;
  }

  it('runs a failed job again as a new job with the same kind, box and parameters, audited', async () => {
    const { jobId: first } = await provisionDocker(services, admin, { boxId: box.id, dockerSource: 'distro' });
    await failNext('apt could not reach the mirror');
    const retryId = await services.jobs.retry(first, admin);
    expect(retryId).not.toBe(first);
    const [old, again] = await Promise.all([services.db.job.findUniqueOrThrow({ where: { id: first } }), services.db.job.findUniqueOrThrow({ where: { id: retryId } })]);
    expect(again).toMatchObject({ kind: 'docker', boxId: box.id, boxName: box.name, status: 'queued', params: old.params, exclusiveKey: `docker:${box.id}`, createdByEmail: admin.email });
    expect(JSON.parse(again.params)).toMatchObject({ dockerSource: 'distro' });
    expect(old.status).toBe('failed');
    const audit = await services.db.auditEvent.findFirstOrThrow({ where: { action: 'job.retry', detail: { contains: retryId } } });
    expect(JSON.parse(audit.detail)).toEqual({ jobId: retryId, retryOf: first, kind: 'docker' });
    expect(audit).toMatchObject({ actorEmail: admin.email, boxId: box.id, result: 'ok' });

    // While the retry is queued it holds the box's Docker key: another retry of the same failed job is refused, in words.
    await expect(services.jobs.retry(first, admin)).rejects.toMatchObject({
      code: 'CONFLICT',
      message: `Docker provisioning cannot be queued: job ${retryId} (docker, queued, by ${admin.email}) is doing this work already; wait for it to finish or cancel it, then try again.`,
    });
    // A job that has not finished is not retried.
    await expect(services.jobs.retry(retryId, admin)).rejects.toMatchObject({ code: 'CONFLICT', message: `Job ${retryId} is queued: only a failed or cancelled job can be run again.` });

    // Cancelled (it was queued: at once), it lets go of the key, and can itself be retried.
    expect(await services.jobs.cancel(retryId, admin)).toBe('cancelled');
    expect(await services.db.job.findUniqueOrThrow({ where: { id: retryId } })).toMatchObject({ status: 'cancelled', exclusiveKey: null });
    const third = await services.jobs.retry(retryId, admin);
    expect((await services.db.job.findUniqueOrThrow({ where: { id: third } })).status).toBe('queued');
    await failNext('still no mirror');
  });

  it('refuses a retry whose box was removed, and an unknown job', async () => {
    const gone = await createBox(services.db, services.secrets, admin, { name: 'gone-box', host: '127.0.0.1', port: 1, sshUser: 'dev', tags: [], notes: '', memberIds: [], auth: { method: 'dashboard-key' } });
    const { jobId } = await provisionDocker(services, admin, { boxId: gone.id });
    await failNext('unreachable');
    await services.db.box.delete({ where: { id: gone.id } });
    await expect(services.jobs.retry(jobId, admin)).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'The box gone-box was removed, so this job cannot run again.' });
    await expect(services.jobs.retry('no-such-job', admin)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it("pages the jobs a user may see, newest first, filtered by box, kind, status and who started them", async () => {
    // One more job, on the admins' box, queued by the dashboard itself.
    const own = await queue.enqueue({ kind: 'docker', box: otherBox, host: null, createdBy: { id: null, email: null }, params: {}, stepNames: ['one'] });
    const all = await pageJobs(services, admin, { limit: 50 });
    const times = all.items.map((job) => job.createdAt.getTime());
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(all.items[0]!.id).toBe(own);

    const failed = await pageJobs(services, admin, { status: 'failed', limit: 50 });
    expect(failed.items.length).toBeGreaterThan(0);
    expect(failed.items.every((job) => job.status === 'failed')).toBe(true);
    expect((await pageJobs(services, admin, { startedBy: null, limit: 50 })).items.map((job) => job.id)).toEqual([own]);
    expect((await pageJobs(services, admin, { startedBy: admin.email, limit: 50 })).items.every((job) => job.createdByEmail === admin.email)).toBe(true);
    expect((await pageJobs(services, admin, { kind: 'box.reboot', limit: 50 })).items).toEqual([]);
    expect((await pageJobs(services, admin, { boxId: otherBox.id, limit: 50 })).items.map((job) => job.id)).toEqual([own]);

    // The developer owns retry-box only: never the admins' box's job, even when naming that box.
    const mine = await pageJobs(services, developer, { limit: 50 });
    expect(mine.items.length).toBeGreaterThan(0);
    expect(mine.items.every((job) => job.boxId === box.id)).toBe(true);
    expect((await pageJobs(services, developer, { boxId: otherBox.id, limit: 50 })).items).toEqual([]);
    // The filters offer them only what they may see, too.
    expect(await jobFilterOptions(services, developer)).toEqual({ boxes: [{ id: box.id, name: box.name }], kinds: [{ kind: 'docker', title: 'Docker provisioning' }], startedBy: [admin.email] });
    expect((await jobFilterOptions(services, admin)).boxes.map((b) => b.name)).toEqual(['admins-box', 'gone-box', 'retry-box']);

    // Pages of two, walked by cursor, are the whole list in the same order, without repeats.
    const walked: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await pageJobs(services, admin, { limit: 2, cursor });
      expect(page.items.length).toBeLessThanOrEqual(2);
      walked.push(...page.items.map((job) => job.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(walked).toEqual(all.items.map((job) => job.id));
  });
});

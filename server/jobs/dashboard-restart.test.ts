import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import type { SessionUser } from '../boxes/access';
import { createBox } from '../boxes/boxes';
import type { Db } from '../db/client';
import { loadEnv } from '../env';
import { provisionDocker } from '../provision/provision';
import { startServices, stopServices, type Services } from '../services';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';

const backendScript = fileURLToPath(new URL('../../testing/fixtures/processes/backend.ts', import.meta.url));

/**
 * A dashboard killed with SIGKILL (no graceful hand-back) in the middle of Docker provisioning: the next start with the
 * same runner id picks the job up at the interrupted step and the box ends correctly configured.
 */
describe('a dashboard killed during a job', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-restart-'));
  const env = {
    ...process.env,
    BOXYARD_DATA_DIR: dataDir,
    BOXYARD_ADMIN_PASSWORD: 'restart-test-password',
    JOB_RUNNER_ID: 'restart-test-dashboard',
    LOG_LEVEL: 'warn',
  };
  let box: LabBox;
  let db: Db;
  let jobId: string;
  let setup: Services;

  beforeAll(async () => {
    box = await startLabBox({ namePrefix: 'restart', dockerCapable: true });
    // Set up the database, box and queued job with the dashboard's own code, but run no jobs in this process.
    ({ services: setup } = await startServices(loadEnv(env), { pollStatus: false, runJobs: false }));
    db = setup.db;
    await box.authorize(setup.dashboardPublicKey);
    const user = await db.user.findFirstOrThrow({ where: { role: 'admin' } });
    const admin: SessionUser = { id: user.id, email: user.email, name: user.name, role: 'admin' };
    const created = await createBox(db, setup.secrets, admin, {
      name: 'restart-box', host: box.host, port: box.port, sshUser: 'dev', tags: [], notes: '', memberIds: [], auth: { method: 'dashboard-key' },
    });
    ({ jobId } = await provisionDocker(setup, admin, { boxId: created.id }));
  }, LAB_START_TIMEOUT_MS);

  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await stopServices(setup);
    await box.remove();
    rmSync(dataDir, { recursive: true, force: true });
  });

  function startBackend(): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', backendScript], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    return new Promise((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve(child));
      child.once('exit', (code) => reject(new Error(`the backend exited early with code ${code}`)));
    });
  }

  const logText = async () => (await db.jobLog.findMany({ where: { jobId }, orderBy: { seq: 'asc' } })).map((line) => line.text);

  it('resumes at the interrupted step after SIGKILL, and finishes', async () => {
    const first = await startBackend();
    children.push(first);
    // Kill it while the install step's apt-get runs (step 4: detect, sudo and daemon.json are done by then).
    await expect.poll(async () => (await logText()).some((text) => /^\$ .*apt-get .*install/.test(text)), { timeout: 60_000, interval: 100 }).toBe(true);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    const killed = await db.job.findUniqueOrThrow({ where: { id: jobId } });
    expect(killed.status).toBe('running');

    const second = await startBackend();
    children.push(second);
    try {
      await expect.poll(async () => (await db.job.findUniqueOrThrow({ where: { id: jobId } })).status, { timeout: 180_000, interval: 500 }).toBe('succeeded');
    } finally {
      second.kill('SIGTERM');
    }
    const log = await logText();
    expect(log.filter((text) => /^Step 1 of \d+: /.test(text))).toHaveLength(1);
    expect(log.filter((text) => /^Step 2 of \d+: /.test(text))).toHaveLength(1);
    expect(log.filter((text) => /^Step 3 of \d+: /.test(text))).toHaveLength(1);
    expect(log).toContainEqual(expect.stringMatching(/^Resuming at step 4 of \d+/));
    expect((await box.root("su -s /bin/sh dev -c 'docker info --format {{.ServerVersion}}'")).stdout.trim()).toMatch(/^\d+\.\d+/);
  }, 300_000);
});

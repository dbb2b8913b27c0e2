// Debian's nginx as the load balancer in front of several dashboard processes, run as the test's own process with
// its own configuration (testing/nginx/dashboards.conf) on loopback ports, the dashboard processes themselves, the
// boxes they share, and the sampler processes counted on a box.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { createBox } from '../../server/boxes/boxes';
import { loadEnv } from '../../server/env';
import { startServices, stopServices } from '../../server/services';
import type { LabBox } from '../lab/lab';
import { REPO_DIR, startProcess, type Running } from './process';
import { until } from './wait';

const NGINX = '/usr/sbin/nginx';
const CONFIG_TEMPLATE = path.join(REPO_DIR, 'testing', 'nginx', 'dashboards.conf');
const DASHBOARD_PROCESS = path.join(REPO_DIR, 'testing', 'fixtures', 'processes', 'dashboard.ts');

export interface LoadBalancer {
  url: string;
  stop(): Promise<void>;
}

/** nginx on `port`, round-robin over the dashboards on `upstreamPorts`; resolves once it accepts connections. */
export async function startNginx(port: number, upstreamPorts: number[]): Promise<LoadBalancer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'boxyard-nginx-'));
  const config = readFileSync(CONFIG_TEMPLATE, 'utf8')
    .replaceAll('@@DIR@@', dir)
    .replaceAll('@@PORT@@', String(port))
    .replaceAll('@@SERVERS@@', upstreamPorts.map((upstream) => `server 127.0.0.1:${upstream} max_fails=1 fail_timeout=5s;`).join('\n    '));
  const file = path.join(dir, 'nginx.conf');
  writeFileSync(file, config);
  const nginx = startProcess(NGINX, ['-c', file, '-p', dir, '-e', path.join(dir, 'error.log')]);
  const url = `http://127.0.0.1:${port}`;
  const exitedEarly = nginx.exited.then((ran) => ran);
  await until(
    async () => {
      const early = await Promise.race([exitedEarly, Promise.resolve(null)]);
      if (early) throw new Error(`nginx exited with code ${early.code}: ${early.stderr}`);
      return fetch(`${url}/api/health`).then(
        () => true,
        () => false,
      );
    },
    'nginx to accept connections',
    10_000,
  );
  return {
    url,
    async stop() {
      nginx.kill('SIGQUIT');
      await nginx.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface DashboardProcess {
  runnerId: string;
  port: number;
  running: Running;
}

/**
 * A dashboard process (testing/fixtures/processes/dashboard.ts) with `env`; resolves once it serves, with its port
 * (`port`, or any free one: a restarted process takes its old port again, where the load balancer expects it).
 */
export async function startDashboardProcess(runnerId: string, env: Record<string, string>, port = 0): Promise<DashboardProcess> {
  // node itself with tsx's loader, not the tsx wrapper: a SIGKILL must reach the dashboard, not a parent of it.
  const running = startProcess(process.execPath, ['--import', 'tsx', DASHBOARD_PROCESS], { env: { ...process.env, ...env, JOB_RUNNER_ID: runnerId, PORT: String(port), HOST: '127.0.0.1' } });
  const listening = await Promise.race([
    until(() => /^listening (\d+)$/m.exec(running.stdout())?.[1], `dashboard process ${runnerId} to listen`, 60_000),
    running.exited.then((ran) => Promise.reject(new Error(`dashboard process ${runnerId} exited with code ${ran.code}: ${ran.stderr.trim().slice(-2000)}`))),
  ]);
  return { runnerId, port: Number(listening), running };
}

/**
 * Adds the lab boxes to the dashboards' database (`env`, as the processes get it) as `${prefix}-0`, `${prefix}-1`...
 * with the dashboard's own key, through the dashboard's own code in this process, which then leaves the registry
 * before the real processes start. Resolves with the boxes' ids, in order.
 */
export async function addSharedBoxes(env: Record<string, string>, boxes: readonly LabBox[], prefix: string): Promise<string[]> {
  const { services: setup } = await startServices(loadEnv({ ...env, JOB_RUNNER_ID: `${prefix}-setup` }), { pollStatus: false });
  try {
    const admin = await setup.db.user.findFirstOrThrow({ where: { role: 'admin' } });
    const actor = { id: admin.id, email: admin.email, name: admin.name, role: 'admin' as const };
    const limit = pLimit(8);
    await Promise.all(boxes.map((box) => limit(() => box.authorize(setup.dashboardPublicKey))));
    const ids: string[] = [];
    for (const [i, box] of boxes.entries()) {
      const created = await createBox(setup.db, setup.secrets, actor, {
        name: `${prefix}-${i}`, host: box.host, port: box.port, sshUser: 'dev', tags: [], notes: '', memberIds: [], auth: { method: 'dashboard-key' },
      });
      ids.push(created.id);
    }
    return ids;
  } finally {
    await stopServices(setup);
  }
}

/** The sampler processes running on a box (the compiled one, or the bash one where it fell back): one per stream. */
export async function samplerProcesses(box: LabBox): Promise<string[]> {
  return (await box.root("pgrep -u dev -f -- '^bash --noprofile --norc -c|/boxyard-sampler-' || true")).stdout.trim().split('\n').filter(Boolean);
}

// Debian's nginx as the load balancer in front of several dashboard processes, run as the test's own process with
// its own configuration (testing/nginx/dashboards.conf) on loopback ports, and the dashboard processes themselves.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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

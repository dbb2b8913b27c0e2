// /metrics beyond the per-box gauges: the process's own metrics (prom-client's defaults) and the dashboard's state,
// served by the real edge of a backend with a real lab box: the terminal gauge moves when a terminal opens and
// again when it closes, the SSH pool shows the connection and channel it uses, a tRPC call is timed by procedure, and
// every expression of the Grafana dashboard (ops/grafana/boxyard.json) names only metrics this route serves.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { startBackend, TestTerminal, type Backend, type TestUser } from '../../testing/helpers/terminals';
import { REPO_DIR } from '../../testing/helpers/process';
import { until } from '../../testing/helpers/wait';

const TOKEN = 'state-token-0123456789abcdef';

/** The value of one series in a Prometheus text exposition (labels as written, in order), or null when absent. */
function series(body: string, name: string, labels = ''): number | null {
  const line = body.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('/metrics: the process and the dashboard state', () => {
  let backend: Backend;
  let box: LabBox;
  let http: string;
  let ws: string;
  let alice: TestUser;
  let boxId: string;

  beforeAll(async () => {
    box = await startLabBox({ namePrefix: 'metrics-state' });
    backend = await startBackend({ BOXYARD_METRICS_TOKEN: TOKEN, JOB_RUNNER_ID: 'state-runner' });
    await box.authorize(backend.services.dashboardPublicKey);
    ws = await backend.listen();
    http = ws.replace(/^ws:/, 'http:');
    alice = await backend.addUser('alice@example.com');
    boxId = (await backend.addBox('scraped-box', box, alice)).id;
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    await backend?.stop();
    await box?.remove();
  });

  const scrape = async () => {
    const response = await fetch(`${http}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(response.status).toBe(200);
    return response.text();
  };

  it('names and types: default process metrics, state gauges, duration histograms', async () => {
    const body = await scrape();
    const types: Record<string, string> = {
      process_cpu_seconds_total: 'counter',
      process_resident_memory_bytes: 'gauge',
      nodejs_eventloop_lag_seconds: 'gauge',
      boxyard_process_info: 'gauge',
      boxyard_ssh_connections: 'gauge',
      boxyard_ssh_channels: 'gauge',
      boxyard_sampler_streams: 'gauge',
      boxyard_terminal_sessions: 'gauge',
      boxyard_tunnels: 'gauge',
      boxyard_previews: 'gauge',
      boxyard_lease_held: 'gauge',
      boxyard_cluster_live_processes: 'gauge',
      boxyard_job_queue_jobs: 'gauge',
      boxyard_job_duration_seconds: 'histogram',
      boxyard_trpc_request_duration_seconds: 'histogram',
      boxyard_box_up: 'gauge',
    };
    for (const [name, type] of Object.entries(types)) expect(body).toContain(`# TYPE ${name} ${type}`);
    expect(series(body, 'boxyard_process_info', 'runner="state-runner"')).toBe(1);
    // SQLite: this process alone, holding the fleet lease only once it started it (status polling is off here).
    expect(series(body, 'boxyard_cluster_live_processes')).toBe(1);
    expect(series(body, 'boxyard_lease_held', 'lease="fleet-policies"')).toBe(0);
    expect(series(body, 'boxyard_tunnels')).toBe(0);
    expect(series(body, 'boxyard_previews', 'kind="sockets"')).toBe(0);
  });

  it('a terminal that opens and closes moves the terminal and SSH gauges', async () => {
    const before = await scrape();
    expect(series(before, 'boxyard_terminal_sessions', 'state="attached"')).toBe(0);
    expect(series(before, 'boxyard_ssh_channels', 'state="open"')).toBe(0);

    const terminal = new TestTerminal(ws, boxId, { cookie: alice.cookie, origin: backend.origin });
    await terminal.untilMessage('state', (m) => m.state === 'ready');
    const open = await scrape();
    expect(series(open, 'boxyard_terminal_sessions', 'state="attached"')).toBe(1);
    expect(series(open, 'boxyard_ssh_connections', 'state="open"')).toBe(1);
    expect(series(open, 'boxyard_ssh_channels', 'state="open"')).toBeGreaterThanOrEqual(1);

    terminal.send({ type: 'close' });
    await terminal.closed;
    await until(async () => series(await scrape(), 'boxyard_terminal_sessions', 'state="attached"') === 0, 'the terminal gauge to drop back to 0');
    expect(series(await scrape(), 'boxyard_terminal_sessions', 'state="detached"')).toBe(0);
  });

  it('times tRPC calls by procedure and result', async () => {
    const call = () => fetch(`${http}/api/trpc/boxes.list`, { headers: { cookie: alice.cookie, origin: backend.origin } });
    expect((await call()).status).toBe(200);
    const anonymous = await fetch(`${http}/api/trpc/boxes.list`, { headers: { origin: backend.origin } });
    expect(anonymous.status).toBe(401);
    const body = await scrape();
    expect(series(body, 'boxyard_trpc_request_duration_seconds_count', 'procedure="boxes.list",type="query",result="ok"')).toBe(1);
    expect(series(body, 'boxyard_trpc_request_duration_seconds_count', 'procedure="boxes.list",type="query",result="UNAUTHORIZED"')).toBe(1);
  });

  it("every expression of the Grafana dashboard names metrics the route serves", async () => {
    const dashboard = JSON.parse(readFileSync(path.join(REPO_DIR, 'ops', 'grafana', 'boxyard.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const body = await scrape();
    const served = new Map([...body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((match) => [match[1]!, match[2]!]));
    const expressions = dashboard.panels.flatMap((panel) => panel.targets.map((target) => ({ panel: panel.title, expr: target.expr })));
    expect(expressions.length).toBeGreaterThan(10);
    for (const { panel, expr } of expressions) {
      // Every metric is one of ours (boxyard_*) or prom-client's defaults (process_*, nodejs_*); a histogram's
      // series add _bucket, _count or _sum to its name.
      const names = [...expr.matchAll(/\b(?:boxyard|process|nodejs)_[a-z0-9_]+\b/g)].map((match) => match[0]);
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        const base = name.replace(/_(bucket|count|sum)$/, '');
        const known = served.has(name) || served.get(base) === 'histogram';
        expect(known, `${panel}: ${name} is not served by /metrics`).toBe(true);
      }
    }
  });
});

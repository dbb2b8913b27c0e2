// Debian's Prometheus as the test's own process: its own configuration and data directory, a loopback port, scraping
// the given dashboard processes each as its own target (with the /metrics bearer token), and its HTTP query API.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './process';
import { startProcess } from './process';
import { until } from './wait';

const PROMETHEUS = '/usr/bin/prometheus';

/** One series of an instant query's answer: its labels and its value. */
export interface PromSeries {
  metric: Record<string, string>;
  value: number;
}

export interface Prometheus {
  url: string;
  /** An instant query through /api/v1/query (PromQL); throws on a query Prometheus refuses. */
  query(promql: string): Promise<PromSeries[]>;
  stop(): Promise<void>;
}

/** Prometheus scraping `targets` ("127.0.0.1:PORT") every 2 s; resolves once it is ready. */
export async function startPrometheus(targets: readonly string[], token: string): Promise<Prometheus> {
  const dir = mkdtempSync(path.join(tmpdir(), 'boxyard-prometheus-'));
  const port = await freePort();
  // JSON is YAML: no YAML writer needed for the configuration.
  const config = {
    global: { scrape_interval: '2s', scrape_timeout: '2s', evaluation_interval: '2s' },
    scrape_configs: [{ job_name: 'boxyard', authorization: { type: 'Bearer', credentials: token }, static_configs: [{ targets }] }],
  };
  const file = path.join(dir, 'prometheus.yml');
  writeFileSync(file, JSON.stringify(config));
  const running = startProcess(PROMETHEUS, [`--config.file=${file}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`]);
  const url = `http://127.0.0.1:${port}`;
  await Promise.race([
    until(() => fetch(`${url}/-/ready`).then((response) => response.ok, () => false), 'Prometheus to be ready', 30_000),
    running.exited.then((ran) => Promise.reject(new Error(`prometheus exited with code ${ran.code}: ${ran.stderr.trim().slice(-2000)}`))),
  ]);
  return {
    url,
    async query(promql) {
      const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
      const body = (await response.json()) as { status: string; error?: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (body.status !== 'success' || !body.data) throw new Error(`Prometheus refused ${promql}: ${body.error ?? response.status}`);
      return body.data.result.map((one) => ({ metric: one.metric, value: Number(one.value[1]) }));
    },
    async stop() {
      running.kill('SIGTERM');
      await running.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

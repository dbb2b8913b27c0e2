import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../db/client';
import type { MetricsService } from './service';

/**
 * What /metrics exposes, in a registry of our own per set of services (no process-wide default registry: the Next
 * bundle loads its own copy of modules, and tests run several backends in one process). Gauges are read from the
 * services at scrape time (prom-client's collect callbacks); durations are observed as they happen (Timings).
 * Label values come from code (procedure paths of the router, job kinds, states) or from the box list, never from
 * request input, so the series stay bounded.
 */
export function createPrometheusRegistry(): Registry {
  const registry = new Registry();
  // Each process's own CPU, memory, event loop lag, GC and handles, named process_* and nodejs_*.
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Durations observed where they happen: each tRPC call (the middleware in server/trpc/init.ts) and each job run. */
export class Timings {
  private readonly trpc: Histogram<'procedure' | 'type' | 'result'>;
  private readonly jobs: Histogram<'kind' | 'status'>;

  constructor(registry: Registry) {
    this.trpc = new Histogram({
      name: 'boxyard_trpc_request_duration_seconds',
      help: 'tRPC calls by procedure, type and result (ok or the tRPC error code); a subscription until its stream is returned',
      labelNames: ['procedure', 'type', 'result'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    this.jobs = new Histogram({
      name: 'boxyard_job_duration_seconds',
      help: "Job runs in this process by kind and outcome (a resumed job's run counts from its resumption)",
      labelNames: ['kind', 'status'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers: [registry],
    });
  }

  trpcCall(procedure: string, type: string, result: string, seconds: number): void {
    this.trpc.observe({ procedure, type, result }, seconds);
  }

  readonly jobFinished = (run: { kind: string; status: string; durationMs: number }): void => {
    this.jobs.observe({ kind: run.kind, status: run.status }, run.durationMs / 1000);
  };
}

/** The parts of the services whose state /metrics shows (their own stats(), read at scrape time). */
export interface DashboardState {
  db: Db;
  metrics: MetricsService;
  runnerId: string;
  pool: { stats(): { connections: number; connecting: number; failing: number; openChannels: number; queued: number } };
  terminals: { stats(): { sessions: number; attached: number; paused: number } };
  tunnels: { stats(): { tunnels: number } };
  previews: { stats(): { sockets: number; agents: number } };
  leases: readonly { name: string; held(): boolean }[];
  cluster: { live(): readonly string[] };
}

/** Per-box gauges and the dashboard's own state, on `registry`. */
export function registerDashboardMetrics(registry: Registry, state: DashboardState): void {
  registerBoxGauges(registry, state.db, state.metrics);
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], collect: (g: Gauge<L>) => void | Promise<void>) =>
    new Gauge<L>({ name, help, labelNames, registers: [registry], collect: function (this: Gauge<L>) { this.reset(); return collect(this); } });

  gauge('boxyard_process_info', 'Always 1: the runner id (JOB_RUNNER_ID) of the process behind this scrape target', ['runner'], (g) => {
    g.set({ runner: state.runnerId }, 1);
  });
  gauge('boxyard_ssh_connections', 'Pooled SSH connections to boxes and hosts by state (connecting, open, failing: waiting out a backoff)', ['state'], (g) => {
    const pool = state.pool.stats();
    g.set({ state: 'open' }, pool.connections);
    g.set({ state: 'connecting' }, pool.connecting);
    g.set({ state: 'failing' }, pool.failing);
  });
  gauge('boxyard_ssh_channels', 'SSH channels on the pooled connections by state (open, or queued for a free slot)', ['state'], (g) => {
    const pool = state.pool.stats();
    g.set({ state: 'open' }, pool.openChannels);
    g.set({ state: 'queued' }, pool.queued);
  });
  gauge('boxyard_sampler_streams', "Box sampler streams: owned (this process samples the box) or followed (another one does and publishes)", ['role'], (g) => {
    const sampler = state.metrics.sampler;
    const ids = sampler.boxIds();
    const owned = ids.filter((id) => sampler.samples(id)).length;
    g.set({ role: 'owned' }, owned);
    g.set({ role: 'followed' }, ids.length - owned);
  });
  gauge('boxyard_terminal_sessions', 'Terminal sessions in this process by state (attached to a browser, detached, paused by flow control)', ['state'], (g) => {
    const terminals = state.terminals.stats();
    g.set({ state: 'attached' }, terminals.attached);
    g.set({ state: 'detached' }, terminals.sessions - terminals.attached);
    g.set({ state: 'paused' }, terminals.paused);
  });
  gauge('boxyard_tunnels', 'Open laptop tunnels (boxyard proxy) in this process', [], (g) => {
    g.set(state.tunnels.stats().tunnels);
  });
  gauge('boxyard_previews', 'Preview WebSockets open and per-box preview agents in this process', ['kind'], (g) => {
    const previews = state.previews.stats();
    g.set({ kind: 'sockets' }, previews.sockets);
    g.set({ kind: 'agents' }, previews.agents);
  });
  gauge('boxyard_lease_held', '1 while this process holds the named lease (fleet-wide work), else 0', ['lease'], (g) => {
    for (const lease of state.leases) g.set({ lease: lease.name }, lease.held() ? 1 : 0);
  });
  gauge('boxyard_cluster_live_processes', 'Dashboard processes this one sees as live (the boxes are spread over them)', [], (g) => {
    g.set(state.cluster.live().length);
  });
  gauge('boxyard_job_queue_jobs', 'Jobs waiting or running in the shared queue by kind and status (the same figure from every process)', ['kind', 'status'], async (g) => {
    const rows = await state.db.job.groupBy({ by: ['kind', 'status'], where: { status: { in: ['queued', 'running'] } }, _count: { _all: true } });
    for (const row of rows) g.set({ kind: row.kind, status: row.status }, row._count._all);
  });
}

function registerBoxGauges(registry: Registry, db: Db, metrics: MetricsService): void {
  const labelNames = ['box', 'box_id'] as const;
  const gauge = (name: string, help: string, collect?: () => Promise<void>) => new Gauge({ name, help, labelNames, registers: [registry], collect });
  // One collect for all gauges, on the first one: the box list is read once per scrape.
  const up = gauge('boxyard_box_up', '1 while the box streams samples, 0 when the stream is down', () => collectAll());
  const cpu = gauge('boxyard_box_cpu_percent', 'Guest CPU busy, percent of all its cores');
  const memUsed = gauge('boxyard_box_memory_used_bytes', 'Memory used in the guest (total minus available)');
  const memTotal = gauge('boxyard_box_memory_total_bytes', 'Memory of the guest (its cgroup limit for a container box)');
  const load = gauge('boxyard_box_load1', 'One-minute load average');
  const idle = gauge('boxyard_box_idle_seconds', 'Seconds the box has been idle (0 while busy or unknown)');
  const hostCpu = gauge('boxyard_box_host_cpu_percent', "CPU the VM's process uses on its hypervisor host, percent of one host core");

  const collectAll = async () => {
    for (const g of [up, cpu, memUsed, memTotal, load, idle, hostCpu]) g.reset();
    const boxes = await db.box.findMany({ select: { id: true, name: true } });
    const now = metrics.clock.now();
    for (const box of boxes) {
      const labels = { box: box.name, box_id: box.id };
      up.set(labels, metrics.sampler.isUp(box.id) ? 1 : 0);
      const sample = metrics.sampler.latest(box.id);
      if (sample?.cpuPct != null) cpu.set(labels, sample.cpuPct);
      if (sample?.memUsedBytes != null) memUsed.set(labels, sample.memUsedBytes);
      if (sample?.memTotalBytes != null) memTotal.set(labels, sample.memTotalBytes);
      if (sample?.load1 != null) load.set(labels, sample.load1);
      if (sample?.hostCpuPct != null) hostCpu.set(labels, sample.hostCpuPct);
      const state = metrics.idleState(box.id);
      idle.set(labels, state.state === 'idle' ? Math.round((now - state.since) / 1000) : 0);
    }
  };
}

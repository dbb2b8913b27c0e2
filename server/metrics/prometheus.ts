import { Gauge, Registry } from 'prom-client';
import type { Db } from '../db/client';
import type { MetricsService } from './service';

/**
 * Per-box gauges for Prometheus, read from the metrics service at scrape time (prom-client's collect callbacks), in
 * a registry of our own (no process-wide default registry: the Next bundle loads its own copy of modules).
 */
export function createMetricsRegistry(db: Db, metrics: MetricsService): Registry {
  const registry = new Registry();
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
  return registry;
}

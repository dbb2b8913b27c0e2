import { performance } from 'node:perf_hooks';
import type { Db } from '../db/client';
import type { HostRemote } from '../hosts/remote';
import { logger } from '../log';
import { errorMessage } from '../../lib/errors';

const log = logger.child({ module: 'metrics.host-cpu' });

/**
 * Host-side CPU of VM boxes (Box.vmHostId set): what drains the laptop running the VM. One call per host per round:
 * the driver's hostCpuSecondsOfMany (one command for all domains where its capabilities say hostCpuInOneCall, as
 * libvirt's domstats; one per VM otherwise) over the same pooled connection. Percent of ONE host
 * core, from cumulative CPU seconds between two rounds over the dashboard's monotonic clock.
 * Read-only and periodic, so not audited per call (like the status poller's probes).
 */
export class HostCpuPoller {
  private readonly previous = new Map<string, { seconds: number; mono: number }>();
  private readonly latest = new Map<string, { pct: number; mono: number }>();
  private busy = false;

  constructor(private readonly deps: { db: Db; hostRemote: HostRemote }) {}

  /** Latest host CPU percent for the box, if measured within maxAgeMs. */
  pct(boxId: string, maxAgeMs: number): number | null {
    const entry = this.latest.get(boxId);
    return entry && performance.now() - entry.mono <= maxAgeMs ? entry.pct : null;
  }

  /** One round over the VM boxes `wanted` says this process reads (the ones it samples). */
  async poll(wanted: (boxId: string) => boolean = () => true): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const boxes = await this.deps.db.box.findMany({ where: { vmHostId: { not: null }, vmId: { not: null } }, select: { id: true, vmHostId: true, vmId: true, name: true } });
      const byHost = new Map<string, typeof boxes>();
      for (const box of boxes) {
        if (!wanted(box.id)) continue;
        const list = byHost.get(box.vmHostId!) ?? [];
        list.push(box);
        byHost.set(box.vmHostId!, list);
      }
      await Promise.all(
        [...byHost].map(([hostId, vms]) =>
          this.pollHost(hostId, vms).catch((error: unknown) => log.warn({ host: hostId, err: errorMessage(error) }, 'host CPU not read')),
        ),
      );
    } finally {
      this.busy = false;
    }
  }

  private async pollHost(hostId: string, vms: { id: string; vmId: string | null; name: string }[]): Promise<void> {
    const { driver } = await this.deps.hostRemote.forReadings(hostId, { timeoutMs: 20_000 });
    const mono = performance.now();
    const seconds = await driver.hostCpuSecondsOfMany(vms.map((vm) => ({ id: vm.vmId!, name: vm.name })));
    for (const vm of vms) this.record(vm.id, seconds.get(vm.vmId!) ?? null, mono);
  }

  /** Exposed for tests: one cumulative reading. */
  record(boxId: string, seconds: number | null, mono: number): void {
    if (seconds === null) {
      // Not running on its host (suspended, shut off): uses no host CPU.
      this.previous.delete(boxId);
      this.latest.set(boxId, { pct: 0, mono });
      return;
    }
    const before = this.previous.get(boxId);
    this.previous.set(boxId, { seconds, mono });
    if (!before || seconds < before.seconds || mono <= before.mono) return;
    this.latest.set(boxId, { pct: ((seconds - before.seconds) / ((mono - before.mono) / 1000)) * 100, mono });
  }
}

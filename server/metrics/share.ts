import type { BoxPorts } from '../../lib/ports';
import type { Membership } from '../cluster/registry';
import type { NotifyChannel } from '../cluster/notify';
import { logger } from '../log';
import type { Sample, SamplerHeader } from './parse';
import type { PortsTracker } from './ports';
import type { MetricsSampler } from './sampler';

const log = logger.child({ module: 'metrics' });

const SOURCE_GONE = 'the dashboard process sampling this box stopped';

/** What one process tells the others about a box it samples. Small: a NOTIFY payload stays under 8000 bytes. */
export type ShareMessage =
  | { kind: 'sample'; boxId: string; sample: Sample; header: SamplerHeader | null; intervalS: number }
  | { kind: 'gap'; boxId: string; at: number; reason: string }
  | { kind: 'ports'; boxId: string; ports: BoxPorts }
  /** A page on another process watches the box: its sampler goes fast for ttlMs. */
  | { kind: 'watch'; boxId: string; ttlMs: number };

export interface SampleSharingOptions {
  channel: NotifyChannel;
  membership: Membership;
  sampler: MetricsSampler;
  ports: PortsTracker;
  /** A sample of a followed box, for the idle bookkeeping as if sampled here. */
  onSample: (boxId: string, sample: Sample) => void;
  onGap: (boxId: string, at: number, reason: string) => void;
  /** Dashboard time, for the gap of a box whose process left. */
  now: () => number;
}

/**
 * Several dashboard processes on one PostgreSQL: the one sampling a box publishes its samples, gaps and ports on the
 * database's LISTEN/NOTIFY channel, and the others keep them in memory (MetricsSampler.follow, PortsTracker.adopt),
 * so any process serves any box's page, /metrics gauges and metrics.followPorts. When a process leaves or dies its
 * boxes get a gap until their new sampler's first sample.
 */
export class SampleSharing {
  constructor(private readonly options: SampleSharingOptions) {
    const { channel, membership, sampler, ports } = options;
    channel.onMessage((from, body) => this.receive(from, body as ShareMessage));
    ports.onChange((boxId) => {
      if (sampler.samples(boxId)) this.publish({ kind: 'ports', boxId, ports: ports.get(boxId) });
    });
    membership.onChange((gone) => {
      if (!gone.length) return;
      const at = options.now();
      for (const boxId of sampler.sourcesGone(gone, at, SOURCE_GONE)) options.onGap(boxId, at, SOURCE_GONE);
    });
  }

  /** A sample this process took (after the service completed it). */
  sampled(boxId: string, sample: Sample): void {
    const stream = this.options.sampler.streamView(boxId);
    this.publish({ kind: 'sample', boxId, sample, header: stream?.header ?? null, intervalS: stream?.intervalS ?? 0 });
  }

  gap(boxId: string, at: number, reason: string): void {
    this.publish({ kind: 'gap', boxId, at, reason: reason.slice(0, 300) });
  }

  watchElsewhere(boxId: string, ttlMs: number): void {
    this.publish({ kind: 'watch', boxId, ttlMs });
  }

  private publish(message: ShareMessage): void {
    void this.options.channel.publish(message).then((sent) => {
      // Only a box with a great many listening ports is this large: the others show them as not known.
      if (!sent && message.kind === 'ports' && message.ports.ports !== null) {
        log.warn({ box: message.boxId, ports: message.ports.ports.length }, 'too many listening ports to share with the other dashboard processes');
        void this.options.channel.publish({ kind: 'ports', boxId: message.boxId, ports: { ports: null, since: message.ports.since } } satisfies ShareMessage);
      }
    });
  }

  private receive(from: string, message: ShareMessage): void {
    const { sampler, ports } = this.options;
    // A late message from a process that sampled the box before this one took it: this one's own samples count.
    if (sampler.samples(message.boxId)) {
      if (message.kind === 'watch') sampler.watch(message.boxId, message.ttlMs);
      return;
    }
    switch (message.kind) {
      case 'sample':
        sampler.follow(message.boxId, from, message.sample, { header: message.header, intervalS: message.intervalS });
        this.options.onSample(message.boxId, message.sample);
        break;
      case 'gap':
        sampler.follow(message.boxId, from, { at: message.at, gap: true, reason: message.reason }, { header: null, intervalS: 0 });
        this.options.onGap(message.boxId, message.at, message.reason);
        break;
      case 'ports':
        ports.adopt(message.boxId, message.ports);
        break;
      case 'watch':
        break;
    }
  }
}

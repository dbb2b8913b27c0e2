import type { BoxRemote } from '../boxes/remote';
import type { NotifyChannel } from '../cluster/notify';
import type { Membership } from '../cluster/registry';
import type { Db } from '../db/client';
import type { HostRemote } from '../hosts/remote';
import { logger } from '../log';
import { prunePoints, rollupMinutes, rollupQuarters } from './history';
import { HostCpuPoller } from './host-cpu';
import { activityOf, IdleTracker, type IdleState } from './idle';
import type { Sample } from './parse';
import { PortsTracker } from './ports';
import { DashboardClock, MetricsSampler, type SamplerOptions } from './sampler';
import { SampleSharing } from './share';
import { readMetricsSettings, type MetricsSettings, metricsSettingsSchema } from './settings';
import { AutoSuspender, type ResumeBoxFn, type SuspendBoxFn } from './suspend';
import { errorMessage } from '../../lib/errors';

const log = logger.child({ module: 'metrics' });

/** Dashboard terminals on one box: open ones, and those with a browser attached. */
export interface TerminalCount {
  open: number;
  attached: number;
}

/** What metrics asks the dashboard's terminals (a port: services.ts plugs the TerminalManager in). */
export interface TerminalActivity {
  terminalsOn(boxId: string): TerminalCount;
}

/** What metrics asks the dashboard's tunnels (a port: services.ts plugs the TunnelService in). */
export interface TunnelActivity {
  /** Open tunnels to the box, each as "ssh by <email>". */
  tunnelsOn(boxId: string): string[];
}

export interface MetricsServiceOptions {
  db: Db;
  remote: BoxRemote;
  hostRemote: HostRemote;
  terminals: TerminalActivity;
  /** Open tunnels keep a box busy and never auto-suspended; none when absent. */
  tunnels?: TunnelActivity;
  /** The VM lifecycle (server/vms requestVmAction) for auto-suspend; null until the lead wires it. */
  suspendBox?: SuspendBoxFn | null;
  resumeBox?: ResumeBoxFn | null;
  /** Idle bookkeeping and policies run this often. */
  tickMs?: number;
  /** 1-minute rollup, 15-minute rollup and pruning run this often. */
  rollupMs?: number;
  /** Fixed settings (tests, benchmarks) on top of the stored ones. */
  settingsOverride?: Partial<MetricsSettings>;
  sampler?: Partial<Pick<SamplerOptions, 'backoffInitialMs' | 'backoffMaxMs' | 'reconcileMs' | 'ringSize' | 'diskEveryS' | 'compiled'>>;
  suspendAttempts?: number;
  suspendRetryDelayMs?: number;
  /** Length of a policy minute (tests shorten the idle window of a policy). */
  policyMinuteMs?: number;
  /**
   * Whether this process does the fleet-wide work: idle times stored on boxes, auto-suspend policies, metric
   * history. Several dashboards on one database: only the holder of the fleet lease (server/cluster/lease.ts).
   * Every process samples for its own pages either way. Default: always.
   */
  leads?: () => boolean;
  /** The dashboard processes on this database: this one samples only the boxes it owns among them. All by default. */
  membership?: Membership;
  /** Where the samples of the boxes this process samples go to the others, and theirs come from (PostgreSQL). */
  channel?: NotifyChannel | null;
}


/**
 * The metrics area as one service with explicit start/stop: the sampler streams, idle tracking (persisted as
 * Box.idleSince), host CPU of VMs, rollups and pruning of MetricPoint, and the auto-suspend policies.
 */
export class MetricsService {
  readonly clock = new DashboardClock();
  readonly sampler: MetricsSampler;
  /** Every sampled box's listening ports and what listens on them. */
  readonly ports: PortsTracker;
  readonly idle = new IdleTracker();
  readonly hostCpu: HostCpuPoller;
  readonly suspender: AutoSuspender;
  settings: MetricsSettings = metricsSettingsSchema.parse({});
  private readonly persistedIdleSince = new Map<string, number | null>();
  private readonly rolledUpTo = new Map<string, number>();
  private timers: NodeJS.Timeout[] = [];
  private running = false;
  private only: Set<string> | null = null;
  private lastHostPoll = 0;
  private readonly sharing: SampleSharing | null = null;

  constructor(private readonly options: MetricsServiceOptions) {
    this.ports = new PortsTracker({ remote: options.remote, now: () => this.clock.now() });
    this.sampler = new MetricsSampler({
      db: options.db,
      remote: options.remote,
      clock: this.clock,
      intervals: () => ({ slowS: this.settings.slowIntervalS, fastS: this.settings.fastIntervalS }),
      onSample: (boxId, sample) => {
        sample.hostCpuPct = this.hostCpu.pct(boxId, 3 * this.settings.slowIntervalS * 1000);
        this.onSample(boxId, sample);
        this.sharing?.sampled(boxId, sample);
      },
      onGap: (boxId, at, reason) => {
        this.idle.onGap(boxId, at, reason);
        this.sharing?.gap(boxId, at, reason);
      },
      onListening: (boxId, sockets) => (sockets ? this.ports.report(boxId, sockets) : this.ports.lost(boxId)),
      owns: options.membership && ((boxId) => options.membership!.owns(boxId)),
      onWatchElsewhere: (boxId, ttlMs) => this.sharing?.watchElsewhere(boxId, ttlMs),
      ...options.sampler,
    });
    if (options.channel && options.membership) {
      this.sharing = new SampleSharing({
        channel: options.channel,
        membership: options.membership,
        sampler: this.sampler,
        ports: this.ports,
        onSample: (boxId, sample) => this.onSample(boxId, sample),
        onGap: (boxId, at, reason) => this.idle.onGap(boxId, at, reason),
        now: () => this.clock.now(),
      });
    }
    // A process joined, left or died: take the boxes this one owns now, leave the others at once.
    options.membership?.onChange(() => void this.sampler.reconcile().catch((error: unknown) => log.warn({ err: errorMessage(error) }, 'metrics reconcile failed')));
    this.hostCpu = new HostCpuPoller({ db: options.db, hostRemote: options.hostRemote });
    this.suspender = new AutoSuspender({
      db: options.db,
      idleState: (boxId) => this.idleState(boxId),
      terminalsAttached: (boxId) => this.terminalsOn(boxId).attached,
      tunnelsOpen: (boxId) => this.tunnelsOn(boxId),
      warningMs: () => this.settings.suspendWarningS * 1000,
      now: () => this.clock.now(),
      suspendBox: options.suspendBox ?? null,
      resumeBox: options.resumeBox ?? null,
      attempts: options.suspendAttempts,
      retryDelayMs: options.suspendRetryDelayMs,
      minuteMs: options.policyMinuteMs,
    });
  }

  /** `only`: sample just these boxes (tests and benchmarks share one database with other boxes). */
  async start(options: { only?: string[] } = {}): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.only = options.only ? new Set(options.only) : null;
    await this.reloadSettings();
    await this.options.channel?.start();
    const boxes = await this.options.db.box.findMany({ select: { id: true, idleSince: true } });
    for (const box of boxes) this.persistedIdleSince.set(box.id, box.idleSince?.getTime() ?? null);
    await this.sampler.start(options);
    const every = (ms: number, work: () => Promise<unknown>, what: string) => {
      let busy = false;
      this.timers.push(
        setInterval(() => {
          if (busy) return;
          busy = true;
          work()
            .catch((error: unknown) => log.warn({ err: errorMessage(error) }, `${what} failed`))
            .finally(() => {
              busy = false;
            });
        }, ms),
      );
    };
    every(this.options.tickMs ?? 5_000, () => this.tick(), 'metrics tick');
    every(this.options.rollupMs ?? 60_000, () => this.rollup(), 'metrics rollup');
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await this.sampler.stop();
    await this.options.channel?.stop();
  }

  async reloadSettings(): Promise<MetricsSettings> {
    this.settings = { ...(await readMetricsSettings(this.options.db)), ...this.options.settingsOverride };
    return this.settings;
  }

  terminalsOn(boxId: string): TerminalCount {
    return this.options.terminals.terminalsOn(boxId);
  }

  tunnelsOn(boxId: string): string[] {
    return this.options.tunnels?.tunnelsOn(boxId) ?? [];
  }

  idleState(boxId: string): IdleState {
    return this.idle.state(boxId, this.clock.now(), this.settings.idleWindowS * 1000);
  }

  /** A sample of the box, taken here or by the process that samples it. */
  private onSample(boxId: string, sample: Sample): void {
    // Open terminals (attached or not: a detached shell may still run something) keep the box busy.
    this.idle.onSample(boxId, sample, activityOf(sample, this.terminalsOn(boxId).open, this.settings, this.tunnelsOn(boxId)));
  }

  private leads(): boolean {
    return this.options.leads?.() ?? true;
  }

  /** Idle bookkeeping, host CPU (every slow interval), and (leading) stored idle times and the suspend policies. */
  async tick(): Promise<void> {
    const now = this.clock.now();
    const leads = this.leads();
    for (const boxId of this.sampler.boxIds()) {
      if (this.terminalsOn(boxId).open > 0) this.idle.onTerminalAttached(boxId);
      const tunnels = this.tunnelsOn(boxId);
      if (tunnels.length > 0) this.idle.onTunnelsOpen(boxId, tunnels);
      if (!leads) continue;
      const state = this.idleState(boxId);
      const idleSince = state.state === 'idle' ? state.since : null;
      if (this.persistedIdleSince.get(boxId) !== idleSince) {
        await this.options.db.box
          .update({ where: { id: boxId }, data: { idleSince: idleSince === null ? null : new Date(idleSince) } })
          .catch(() => undefined); // deleted meanwhile
        this.persistedIdleSince.set(boxId, idleSince);
      }
    }
    if (now - this.lastHostPoll >= this.settings.slowIntervalS * 1000) {
      this.lastHostPoll = now;
      // Only for the boxes this process samples: the host CPU travels with their samples to the other processes.
      await this.hostCpu.poll((boxId) => (!this.only || this.only.has(boxId)) && (this.options.membership?.owns(boxId) ?? true));
    }
    if (leads) await this.suspender.tick();
  }

  /** 1-minute points from the rings, 15-minute points from those, then retention (leading only). */
  async rollup(): Promise<void> {
    if (!this.leads()) return;
    const now = this.clock.now();
    for (const boxId of this.sampler.boxIds()) {
      const after = this.rolledUpTo.get(boxId) ?? 0;
      this.rolledUpTo.set(boxId, await rollupMinutes(this.options.db, boxId, this.sampler.recent(boxId, after), after, now));
    }
    await rollupQuarters(this.options.db, now);
    await prunePoints(this.options.db, now);
  }
}

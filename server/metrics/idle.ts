import type { Sample } from './parse';
import type { MetricsSettings } from './settings';

/** What makes a box active at one sample; the reasons are shown in the UI ("busy: cpu 43%, 1 terminal"). */
export interface Activity {
  active: boolean;
  reasons: string[];
}

/** The idle reason of one open tunnel, e.g. "tunnel open: ssh by ana@example.com". */
export function tunnelReason(tunnel: string): string {
  return `tunnel open: ${tunnel}`;
}

/**
 * A sample is active when the guest CPU is at or above the threshold, an SSH login is open, a container uses CPU,
 * a dashboard terminal is attached, or a laptop's tunnel is open (`tunnels`: "ssh by <email>", TunnelActivity). A sample whose CPU is unknown (first after a (re)connect) is not evidence of
 * quiet: it is treated as active so that idleness always rests on measured samples.
 */
export function activityOf(
  sample: Sample,
  terminalsAttached: number,
  settings: Pick<MetricsSettings, 'idleCpuPct' | 'containerBusyPct'>,
  tunnels: readonly string[] = [],
): Activity {
  const reasons: string[] = [];
  if (sample.cpuPct === null) reasons.push('cpu not measured yet');
  else if (sample.cpuPct >= settings.idleCpuPct) reasons.push(`cpu ${sample.cpuPct.toFixed(0)}%`);
  if (sample.sessions > 0) reasons.push(`${sample.sessions} SSH login${sample.sessions === 1 ? '' : 's'}`);
  const busyContainers = sample.containerCpuPct.filter((pct) => !(pct < settings.containerBusyPct)).length;
  if (busyContainers > 0) reasons.push(`${busyContainers} busy container${busyContainers === 1 ? '' : 's'}`);
  if (terminalsAttached > 0) reasons.push(`${terminalsAttached} terminal${terminalsAttached === 1 ? '' : 's'} attached`);
  reasons.push(...tunnels.map(tunnelReason));
  return { active: reasons.length > 0, reasons };
}

export type IdleState =
  | { state: 'unknown' }
  /** No stream: unreachable is not idle. */
  | { state: 'down'; since: number; reason: string }
  | { state: 'busy'; reasons: string[] }
  /** Quiet, but not for the whole window yet. */
  | { state: 'quiet'; since: number }
  | { state: 'idle'; since: number };

/**
 * Per box: since when it has been quiet without interruption. A gap (stream down) resets it, since nothing is known
 * about the box meanwhile. Pure bookkeeping driven by samples; the service persists `idleSince` on changes.
 */
export class IdleTracker {
  private readonly boxes = new Map<string, { quietSince: number | null; down: { since: number; reason: string } | null; reasons: string[]; seen: boolean }>();

  private entry(boxId: string) {
    let entry = this.boxes.get(boxId);
    if (!entry) {
      entry = { quietSince: null, down: null, reasons: [], seen: false };
      this.boxes.set(boxId, entry);
    }
    return entry;
  }

  onSample(boxId: string, sample: Sample, activity: Activity): void {
    const entry = this.entry(boxId);
    entry.seen = true;
    entry.down = null;
    entry.reasons = activity.reasons;
    if (activity.active) entry.quietSince = null;
    else entry.quietSince ??= sample.at;
  }

  onGap(boxId: string, at: number, reason: string): void {
    const entry = this.entry(boxId);
    entry.quietSince = null;
    entry.down = { since: at, reason };
  }

  /** A terminal attached between samples makes the box busy at once (no need to wait for the next sample). */
  onTerminalAttached(boxId: string): void {
    const entry = this.entry(boxId);
    entry.quietSince = null;
    if (!entry.reasons.some((r) => r.includes('terminal'))) entry.reasons = [...entry.reasons, 'terminal attached'];
  }

  /** Tunnels open between samples make the box busy at once, each named in the reasons. */
  onTunnelsOpen(boxId: string, tunnels: readonly string[]): void {
    const entry = this.entry(boxId);
    entry.quietSince = null;
    const missing = tunnels.map(tunnelReason).filter((reason) => !entry.reasons.includes(reason));
    if (missing.length) entry.reasons = [...entry.reasons, ...missing];
  }

  state(boxId: string, now: number, windowMs: number): IdleState {
    const entry = this.boxes.get(boxId);
    if (!entry || (!entry.seen && !entry.down)) return { state: 'unknown' };
    if (entry.down) return { state: 'down', ...entry.down };
    if (entry.quietSince === null) return { state: 'busy', reasons: entry.reasons };
    return now - entry.quietSince >= windowMs ? { state: 'idle', since: entry.quietSince } : { state: 'quiet', since: entry.quietSince };
  }

  forget(boxId: string): void {
    this.boxes.delete(boxId);
  }
}

import { formatDuration } from '../lib/format';
import type { BoxActivity } from '../server/metrics/views';
import { defineCommand } from './commands';
import { dashboardOptions, openDashboard, type BoxListing, type DashboardClient } from './dashboard-api';
import { jsonOption, print, printJson } from './output';

/** `boxyard ls`: the boxes the user may reach, with their status and activity, as the fleet page shows them. */

type FleetRow = Awaited<ReturnType<DashboardClient['metrics']['fleet']['query']>>['rows'][number];

/** One box of `ls --json`: the box as the dashboard lists it, and its fleet metrics row (null before the first sample). */
export type ListedBox = BoxListing & { metrics: Omit<FleetRow, 'boxId'> | null };

/** The fleet page's activity badge in words: "busy", "idle 23m", "suspended"... */
export function activityText(activity: BoxActivity | undefined, now: number): string {
  switch (activity?.kind) {
    case 'busy':
      return activity.reasons.length ? `busy (${activity.reasons.join(', ')})` : 'busy';
    case 'quiet':
      return 'busy';
    case 'idle':
      return `idle ${formatDuration((now - activity.sinceMs) / 1000)}`;
    case 'suspended':
      return 'suspended';
    case 'down':
      return 'no samples';
    default:
      return 'not sampled yet';
  }
}

/** Columns padded to their widest cell; the last one is not padded. */
export function table(rows: readonly string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ').trimEnd());
}

export const lsCommand = defineCommand({
  name: 'ls',
  usage: 'ls [--url URL] [--token TOKEN] [--json]',
  summary: 'the boxes you may reach, with their status and activity',
  description: `Lists the boxes you may reach on the dashboard, as its fleet page shows them: status (is its SSH answering),
activity (busy, idle for how long, suspended by its idle policy), OS and owner. --json prints every field.`,
  options: { ...dashboardOptions, json: jsonOption },
  async run(values) {
    const dashboard = await openDashboard(values);
    // One HTTP request: the batch link sends both calls together.
    const [boxes, fleet] = await dashboard.ask((client) => Promise.all([client.boxes.list.query(), client.metrics.fleet.query()]));
    const metricsOf = new Map(fleet.rows.map(({ boxId, ...row }) => [boxId, row]));
    if (values.json) return printJson(boxes.map((box): ListedBox => ({ ...box, metrics: metricsOf.get(box.id) ?? null })));
    if (!boxes.length) return print(`You may reach no box on ${dashboard.url} yet; an admin adds boxes and shares them with you.`);
    const rows = boxes.map((box) => [
      box.name,
      box.status,
      activityText(metricsOf.get(box.id)?.activity, fleet.now),
      box.facts?.os.name || '-',
      box.owner.email,
    ]);
    table([['NAME', 'STATUS', 'ACTIVITY', 'OS', 'OWNER'], ...rows]).forEach(print);
  },
});

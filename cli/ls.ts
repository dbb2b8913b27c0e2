import { formatDuration } from '../lib/format';
import { portAddressText, portOwnerText, type ListeningPort } from '../lib/ports';
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

/** `ls --ports`: one row per listening port of each box; a box whose ports are not known says so in one row. */
export function portRows(boxes: readonly { name: string; ports: ListeningPort[] | null | undefined }[]): string[][] {
  return boxes.flatMap(({ name, ports }) =>
    !ports
      ? [[name, '-', 'not known (never reached, or its sampler is down)', '']]
      : ports.length
        ? ports.map((port) => [name, String(port.port), portAddressText(port.address), portOwnerText(port.owner)])
        : [[name, '-', 'nothing listens', '']],
  );
}

export const lsCommand = defineCommand({
  name: 'ls',
  usage: 'ls [--url URL] [--token TOKEN] [--ports] [--json]',
  summary: 'the boxes you may reach, with their status and activity',
  description: `Lists the boxes you may reach on the dashboard, as its fleet page shows them: status (is its SSH answering),
activity (busy, idle for how long, suspended by its idle policy), OS and owner. --ports lists each box's listening
TCP ports after that: port, address (all interfaces, loopback only, or which) and what listens (a container and its
port, or a process). --json prints every field (the ports too, null where not known).`,
  options: { ...dashboardOptions, ports: { type: 'boolean', help: "also list each box's listening TCP ports and what listens" }, json: jsonOption },
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
    if (!values.ports) return;
    print('');
    table([['NAME', 'PORT', 'ADDRESS', 'WHAT LISTENS'], ...portRows(boxes.map((box) => ({ name: box.name, ports: metricsOf.get(box.id)?.ports })))]).forEach(print);
  },
});

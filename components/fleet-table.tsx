'use client';
import Link from 'next/link';
import { memo, useCallback, useState, type Dispatch, type SetStateAction } from 'react';
import type { FleetBoxView } from '../server/boxes/boxes';
import { formatBytes } from '../lib/format';
import { boxStatuses, type BoxStatus } from '../lib/validation';
import { words } from '../lib/words';
import { DataTable, type Column } from './data-table';
import type { FleetMetricsRow } from '../server/metrics/views';
import { FleetActivityCell, fleetMetricsOf, useFleetMetrics } from './metrics/activity';
import { StatusBadge } from './status-badge';
import { Button } from './ui';

export type FleetBox = FleetBoxView;
export const FLEET_PAGE_SIZE = 50;

/** The fleet's sortable columns and what each sorts by; statuses sort worst first (the boxes that need a look). */
const sortKeys = {
  name: (b: FleetBox) => b.name,
  status: (b: FleetBox) => String(statusRank[b.status]),
  os: (b: FleetBox) => b.facts?.os.name ?? '',
  docker: (b: FleetBox) => b.facts?.docker.server ?? b.facts?.docker.client ?? '',
  owner: (b: FleetBox) => b.owner.email,
} satisfies Record<string, (b: FleetBox) => string>;
export type FleetSortKey = keyof typeof sortKeys;
export interface FleetSort {
  key: FleetSortKey;
  direction: 'ascending' | 'descending';
}
const statusRank: Record<BoxStatus, number> = { 'host-key-mismatch': 0, 'auth-failed': 1, unreachable: 2, unknown: 3, online: 4 };

// localeCompare's rule (the default locale), without resolving the locale on each of ~9,000 comparisons.
const collator = new Intl.Collator();
/** Each list's ascending order per key, computed once per list the server sent (a poll with changes sends a new one). */
const ascendingOrders = new WeakMap<FleetBox[], Map<FleetSortKey, FleetBox[]>>();

/**
 * The boxes in the sort's order. Names are unique, so descending is exactly ascending reversed: a click on a header
 * sorts the fleet at most once per key and list, and reverses after that.
 */
export function sortFleet(boxes: FleetBox[], sort: FleetSort): FleetBox[] {
  let orders = ascendingOrders.get(boxes);
  if (!orders) ascendingOrders.set(boxes, (orders = new Map()));
  let ascending = orders.get(sort.key);
  if (!ascending) {
    const key = sortKeys[sort.key];
    // Decorate once: comparing 500 rows calls the key ~9,000 times otherwise.
    ascending = boxes
      .map((box) => ({ box, value: key(box) }))
      .sort((a, b) => collator.compare(a.value, b.value) || collator.compare(a.box.name, b.box.name))
      .map(({ box }) => box);
    orders.set(sort.key, ascending);
  }
  return sort.direction === 'ascending' ? ascending : ascending.toReversed();
}

/** How many boxes have each status: the counts at the top of the fleet, each a filter. */
export const StatusCounts = memo(function StatusCounts({ boxes, active, onChoose }: { boxes: FleetBox[]; active: BoxStatus | ''; onChoose: (status: BoxStatus | '') => void }) {
  const counts = new Map<BoxStatus, number>();
  for (const box of boxes) counts.set(box.status, (counts.get(box.status) ?? 0) + 1);
  return (
    <div className="mb-4 flex flex-wrap gap-2" role="group" aria-label="Boxes per status" data-testid="status-counts">
      <CountChip label="all" count={boxes.length} pressed={active === ''} onClick={() => onChoose('')} />
      {boxStatuses
        .filter((s) => counts.has(s))
        .map((s) => (
          <CountChip key={s} status={s} label={words.boxStatuses[s]} count={counts.get(s)!} pressed={active === s} onClick={() => onChoose(active === s ? '' : s)} />
        ))}
    </div>
  );
});

function CountChip({ label, count, pressed, onClick, status }: { label: string; count: number; pressed: boolean; onClick: () => void; status?: BoxStatus }) {
  return (
    <button
      type="button"
      aria-pressed={pressed}
      data-count-status={status ?? 'all'}
      onClick={onClick}
      className={`rounded-full px-3 py-1 text-xs font-medium ring-1 ring-inset ${pressed ? 'bg-indigo-600 text-white ring-indigo-600' : 'bg-white text-slate-700 ring-slate-300 hover:bg-slate-50'}`}
    >
      {label} <span className="tabular-nums">{count}</span>
    </button>
  );
}

/** A box's status message in one line, the whole of it on demand (a long SSH error would make the row tall). */
function StatusMessage({ message }: { message: string }) {
  const [open, setOpen] = useState(false);
  return (
    <div className="mt-1 max-w-xs text-xs text-slate-600">
      <div className={open ? 'whitespace-pre-wrap' : 'line-clamp-1'} data-testid="status-message" title={open ? undefined : message}>
        {message}
      </div>
      <button type="button" className="text-indigo-700 hover:underline" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? 'less' : 'full error'}
      </button>
    </div>
  );
}

/**
 * One box's row. Memoized: a filter or a poll re-renders the rows whose box, metrics or selection changed, not the
 * whole page of rows (the callbacks it gets are stable).
 */
const FleetRow = memo(function FleetRow({
  box,
  metrics,
  now,
  selected,
  onToggle,
  onTag,
}: {
  box: FleetBox;
  metrics: FleetMetricsRow | undefined;
  /** The metrics' clock where the row shows a duration, else 0. */
  now: number;
  /** null: no selection column (developers). */
  selected: boolean | null;
  onToggle: (id: string) => void;
  onTag: (tag: string) => void;
}) {
  return (
    <tr data-box={box.name} className="align-top hover:bg-slate-50">
      {selected !== null && (
        <td className="px-4 py-2">
          <input type="checkbox" aria-label={`Select ${box.name}`} checked={selected} onChange={() => onToggle(box.id)} />
        </td>
      )}
      <td className="px-4 py-2">
        {/* No prefetch: each sort or page would otherwise ask the server for up to 50 box pages nobody opened. */}
        <Link href={`/boxes/${box.id}`} prefetch={false} className="font-medium text-indigo-700 hover:underline">
          {box.name}
        </Link>
        <div className="break-all font-mono text-xs text-slate-500">
          {box.sshUser}@{box.host}:{box.port}
        </div>
      </td>
      <td className="px-4 py-2">
        <StatusBadge status={box.status} />
        {/* Keyed by box: rows are kept by position (below), and an opened error belongs to its box, not to the row. */}
        {box.statusMessage && <StatusMessage key={box.id} message={box.statusMessage} />}
      </td>
      <td className="px-4 py-2">
        <FleetActivityCell row={metrics} now={now} boxName={box.name} />
      </td>
      <td className="px-4 py-2">
        {box.facts ? (
          <>
            <div>{box.facts.os.name || box.facts.os.id}</div>
            <div className="text-xs text-slate-500">
              {box.facts.kernel} · {box.facts.arch}
            </div>
          </>
        ) : (
          <span className="text-slate-400">—</span>
        )}
      </td>
      <td className="px-4 py-2 text-slate-700">
        {box.facts ? `${box.facts.cpus ?? '?'} CPU · ${formatBytes(box.facts.memoryTotalBytes)} · ${formatBytes(box.facts.diskFreeBytes)}` : '—'}
      </td>
      <td className="px-4 py-2">{box.facts?.docker.server ?? box.facts?.docker.client ?? <span className="text-slate-400">none</span>}</td>
      <td className="break-all px-4 py-2 text-slate-700">{box.owner.email}</td>
      <td className="px-4 py-2">
        <div className="flex flex-wrap gap-1">
          {box.tags.map((t) => (
            <button key={t} type="button" onClick={() => onTag(t)} className="rounded bg-slate-100 px-1.5 py-0.5 text-xs text-slate-700 hover:bg-slate-200">
              {t}
            </button>
          ))}
        </div>
      </td>
    </tr>
  );
});

/**
 * One page of the fleet (FLEET_PAGE_SIZE rows: 500 boxes render, sort and filter without a long frame), sortable
 * by its headers, with a select-all for admins that takes every box the filters show, not just this page.
 */
export function FleetTable({
  boxes,
  sort,
  onSort,
  onTag,
  selection,
  filterKey,
  empty,
}: {
  boxes: FleetBox[];
  sort: FleetSort;
  onSort: (sort: FleetSort) => void;
  onTag: (tag: string) => void;
  /** Admins select boxes to provision; developers get no selection column. */
  selection: { selected: ReadonlySet<string>; set: Dispatch<SetStateAction<ReadonlySet<string>>> } | null;
  /** Changes with the filters: the table goes back to its first page. */
  filterKey: string;
  empty: string;
}) {
  // One subscription to the fleet's metrics for the whole table; each row gets its own row of them.
  const fleet = useFleetMetrics();
  const setSelected = selection?.set;
  const toggle = useCallback(
    (id: string) =>
      setSelected?.((previous) => {
        const next = new Set(previous);
        if (!next.delete(id)) next.add(id);
        return next;
      }),
    [setSelected],
  );
  // A new filter starts at its first page (state adjusted while rendering, not a remount of every row).
  const [paging, setPaging] = useState({ filterKey, page: 0 });
  const page = paging.filterKey === filterKey ? paging.page : 0;
  const setPage = (next: number) => setPaging({ filterKey, page: next });
  const pages = Math.max(1, Math.ceil(boxes.length / FLEET_PAGE_SIZE));
  const current = Math.min(page, pages - 1);
  const shown = boxes.slice(current * FLEET_PAGE_SIZE, (current + 1) * FLEET_PAGE_SIZE);
  const sortable = (label: string, key: FleetSortKey): Column => ({
    label,
    sort: {
      direction: sort.key === key ? sort.direction : null,
      onSort: () => onSort({ key, direction: sort.key === key && sort.direction === 'ascending' ? 'descending' : 'ascending' }),
    },
  });
  const allSelected = selection !== null && boxes.length > 0 && boxes.every((b) => selection.selected.has(b.id));
  const columns: Column[] = [
    ...(selection
      ? [
          {
            label: 'Select',
            className: 'w-8',
            header: (
              <input
                type="checkbox"
                aria-label={`Select all ${boxes.length} boxes shown`}
                checked={allSelected}
                onChange={() => selection.set(allSelected ? new Set() : new Set(boxes.map((b) => b.id)))}
              />
            ),
          },
        ]
      : []),
    sortable('Box', 'name'),
    sortable('Status', 'status'),
    { label: 'Activity (CPU, last hour)' },
    sortable('OS', 'os'),
    { label: 'CPU / memory / disk free' },
    sortable('Docker', 'docker'),
    sortable('Owner', 'owner'),
    { label: 'Tags' },
  ];

  return (
    <>
      <DataTable empty={boxes.length === 0 ? empty : null} label="Boxes" columns={columns}>
        {shown.map((box, position) => {
          const { row, now } = fleetMetricsOf(fleet.data, box.id);
          // Keyed by position on the page, not by box: a sort or a new page shows other boxes in the same 50 rows, and
          // React updates their text and attributes in place instead of removing 50 rows and building 50 new ones
          // (their DOM work, then style and layout of new elements, was most of a sort's time).
          return <FleetRow key={position} box={box} metrics={row} now={now} selected={selection ? selection.selected.has(box.id) : null} onToggle={toggle} onTag={onTag} />;
        })}
      </DataTable>
      {pages > 1 && (
        <nav className="mt-3 flex items-center justify-between gap-3 text-sm text-slate-600" aria-label="Fleet pages">
          <span data-testid="fleet-range">
            {current * FLEET_PAGE_SIZE + 1}–{current * FLEET_PAGE_SIZE + shown.length} of {boxes.length}
          </span>
          <span className="flex gap-2">
            <Button variant="secondary" disabled={current === 0} onClick={() => setPage(current - 1)}>
              Previous
            </Button>
            <Button variant="secondary" disabled={current >= pages - 1} onClick={() => setPage(current + 1)}>
              Next
            </Button>
          </span>
        </nav>
      )}
    </>
  );
}

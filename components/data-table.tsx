import { useId, type ReactNode } from 'react';

export interface Column {
  label: string;
  /** Announced to screen readers only (e.g. an actions or selection column). */
  srOnly?: boolean;
  className?: string;
  /** Shown in the header instead of the label (e.g. a select-all checkbox); the label still names the column. */
  header?: ReactNode;
  /** A sortable column: its header is a button; `direction` is set on the column the rows are sorted by. */
  sort?: { direction: 'ascending' | 'descending' | null; onSort: () => void };
}

/**
 * Below the sm breakpoint a row is a card: cells stack, each after its column's label (from this style: CSS
 * counters cannot name a column, and cells are the callers'). The header row stays, wrapped, for sort buttons.
 */
function narrowLabels(scope: string, columns: Column[]): string {
  return columns
    .map((column, i) => (column.srOnly || column.header ? '' : `.${scope} td:nth-child(${i + 1})::before{content:${JSON.stringify(column.label)}}`))
    .join('');
}

function HeaderCell({ column }: { column: Column }) {
  const content = column.header ?? (column.srOnly ? <span className="sr-only">{column.label}</span> : column.label);
  // data-keep: the header stays on phones (globals.css hides the plain ones; the cards name their cells).
  if (!column.sort) return <th className={`px-4 py-2.5 ${column.className ?? ''}`} data-keep={column.header ? '' : undefined}>{content}</th>;
  const { direction, onSort } = column.sort;
  return (
    <th className={`px-4 py-2.5 ${column.className ?? ''}`} aria-sort={direction ?? 'none'}>
      <button type="button" onClick={onSort} className="inline-flex items-center gap-1 uppercase tracking-wide hover:text-slate-800">
        {column.label}
        <span aria-hidden className={direction ? 'text-slate-700' : 'text-slate-300'}>
          {direction === 'descending' ? '↓' : '↑'}
        </span>
      </button>
    </th>
  );
}

/**
 * The dashboard's framed list table: a labelled table with a header row; rows are the caller's. `empty`, when given,
 * is shown as the one row of a list that loaded and has nothing in it.
 */
export function DataTable({
  label,
  columns,
  bodyClassName = '',
  empty,
  children,
}: {
  label: string;
  columns: Column[];
  bodyClassName?: string;
  empty?: ReactNode;
  children: ReactNode;
}) {
  const scope = `table-${useId().replace(/[^a-zA-Z0-9_-]/g, '')}`;
  return (
    <div className="data-table overflow-x-auto rounded-lg bg-white shadow-sm ring-1 ring-slate-200">
      <style>{narrowLabels(scope, columns)}</style>
      <table className={`${scope} min-w-full divide-y divide-slate-200 text-sm`} aria-label={label}>
        <thead className="bg-slate-50 text-left text-xs font-medium uppercase tracking-wide text-slate-500">
          <tr>
            {columns.map((column) => (
              <HeaderCell key={column.label} column={column} />
            ))}
          </tr>
        </thead>
        <tbody className={`divide-y divide-slate-100 ${bodyClassName}`}>
          {children}
          {empty && (
            <tr data-empty>
              <td colSpan={columns.length} className="px-4 py-10 text-center text-slate-500">
                {empty}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

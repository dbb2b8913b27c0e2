import type { ReactNode } from 'react';

export interface Column {
  label: string;
  /** Announced to screen readers only (e.g. an actions or selection column). */
  srOnly?: boolean;
  className?: string;
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
  return (
    <div className="overflow-x-auto rounded-lg bg-white shadow-sm ring-1 ring-slate-200">
      <table className="min-w-full divide-y divide-slate-200 text-sm" aria-label={label}>
        <thead className="bg-slate-50 text-left text-xs font-medium uppercase tracking-wide text-slate-500">
          <tr>
            {columns.map((column) => (
              <th key={column.label} className={`px-4 py-2.5 ${column.className ?? ''}`}>
                {column.srOnly ? <span className="sr-only">{column.label}</span> : column.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody className={`divide-y divide-slate-100 ${bodyClassName}`}>
          {children}
          {empty && (
            <tr>
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

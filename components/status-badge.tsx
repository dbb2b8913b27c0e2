import type { BoxStatus } from '../lib/validation';
import { words } from '../lib/words';

const look: Record<BoxStatus, string> = {
  online: 'bg-emerald-50 text-emerald-800 ring-emerald-200',
  unreachable: 'bg-amber-50 text-amber-900 ring-amber-200',
  'auth-failed': 'bg-red-50 text-red-800 ring-red-200',
  'host-key-mismatch': 'bg-red-100 text-red-900 ring-red-300',
  unknown: 'bg-slate-100 text-slate-700 ring-slate-200',
};

export function StatusBadge({ status }: { status: BoxStatus }) {
  const className = look[status];
  return (
    <span data-status={status} className={`inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${className}`}>
      <span aria-hidden className="size-1.5 rounded-full bg-current" />
      {words.boxStatuses[status]}
    </span>
  );
}

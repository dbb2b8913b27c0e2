import type { VmState } from '../../server/hypervisors/driver';
import { word } from '../../lib/words';

const look: Record<VmState, string> = {
  running: 'bg-emerald-50 text-emerald-800 ring-emerald-200',
  stopped: 'bg-slate-100 text-slate-700 ring-slate-200',
  suspended: 'bg-indigo-50 text-indigo-800 ring-indigo-200',
  paused: 'bg-amber-50 text-amber-900 ring-amber-200',
  starting: 'bg-sky-50 text-sky-800 ring-sky-200',
  stopping: 'bg-sky-50 text-sky-800 ring-sky-200',
  unknown: 'bg-slate-100 text-slate-700 ring-slate-200',
};

/** A VM's state in the common model; the hypervisor's own word is in the title. */
export function VmStateBadge({ state, rawState }: { state: VmState; rawState?: string }) {
  return (
    <span data-state={state} title={rawState} className={`inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${look[state]}`}>
      <span aria-hidden className="size-1.5 rounded-full bg-current" />
      {word('vmStates', state)}
    </span>
  );
}

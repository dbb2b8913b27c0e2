'use client';
import Link from 'next/link';
import type { VmAction } from '../../server/vms/rules';
import { word } from '../../lib/words';
import { ConfirmDialog } from '../confirm-dialog';
import { Button } from '../ui';

const labels: Record<VmAction, string> = {
  start: 'Start',
  stop: 'Stop',
  suspend: 'Suspend',
  resume: 'Resume',
  restart: 'Restart',
  pause: 'Pause',
};
const order: VmAction[] = ['start', 'resume', 'stop', 'suspend', 'pause', 'restart'];
/** Actions that end what runs in the guest: confirmed first, saying what goes. */
const confirmed: Partial<Record<VmAction, (vmName: string) => string>> = {
  stop: (vmName) => `${vmName}'s guest is asked to shut down and is powered off if it has not after the timeout: its terminals, running programs and anything unsaved in it end.`,
  restart: (vmName) => `${vmName} restarts: its terminals and running programs end; it comes back once it has booted.`,
};

export interface ActiveJobView {
  id: string;
  kind: string;
  status: string;
  createdByEmail: string | null;
}

/**
 * The lifecycle buttons of one VM: only the actions its state allows (the server decides), none while a job acts on
 * it (that job is linked instead, with its live log on the job page).
 */
export function VmButtons({
  vmName,
  actions,
  activeJob,
  pending,
  onAction,
}: {
  vmName: string;
  actions: VmAction[];
  activeJob: ActiveJobView | null;
  pending: boolean;
  onAction: (action: VmAction) => void;
}) {
  if (activeJob) {
    return (
      <Link href={`/jobs/${activeJob.id}`} className="text-sm text-indigo-700 hover:underline" data-active-job={activeJob.kind}>
        {word('jobKinds', activeJob.kind)} {word('jobStatuses', activeJob.status)}…
      </Link>
    );
  }
  return (
    <div className="flex flex-wrap gap-1.5">
      {order
        .filter((action) => actions.includes(action))
        .map((action) => {
          const confirmation = confirmed[action];
          const button = (
            <Button
              key={action}
              variant={action === 'stop' ? 'danger' : 'secondary'}
              className="px-2 py-1 text-xs"
              disabled={pending}
              aria-label={`${labels[action]} ${vmName}`}
              onClick={confirmation ? undefined : () => onAction(action)}
            >
              {labels[action]}
            </Button>
          );
          if (!confirmation) return button;
          return (
            <ConfirmDialog
              key={action}
              trigger={button}
              title={`${labels[action]} ${vmName}?`}
              description={confirmation(vmName)}
              confirmLabel={labels[action]}
              onConfirm={() => onAction(action)}
            />
          );
        })}
    </div>
  );
}

/** How long a stop waits for the guest before powering it off; shared by the buttons of a page. */
export function StopTimeoutField({ value, onChange }: { value: number; onChange: (seconds: number) => void }) {
  return (
    <label className="flex items-center gap-2 text-xs text-slate-600">
      Stop: power off after
      <input
        type="number"
        min={2}
        max={3600}
        value={value}
        aria-label="Seconds before a stop powers the VM off"
        onChange={(event) => onChange(Math.max(2, Math.min(3600, Number(event.target.value) || 2)))}
        className="w-16 rounded-md border-0 px-1.5 py-0.5 text-xs ring-1 ring-inset ring-slate-300"
      />
      s
    </label>
  );
}

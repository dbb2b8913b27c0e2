'use client';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { VmStateBadge } from '../hosts/vm-state-badge';
import { Fact } from '../fact';
import { ConfirmDialog } from '../confirm-dialog';
import { failed, jobQueued } from '../toasts';
import { useTRPC } from '../trpc';
import { BlockedReason, Button, Card, ErrorNote } from '../ui';
import { StopTimeoutField, VmButtons } from './vm-buttons';

/**
 * The box page's VM card: for a box that is a VM on a hypervisor host, its state, host and lifecycle buttons (live:
 * polled, faster while a job acts on it); for a plain SSH box (a VPS), reboot and power off, confirmed by typing
 * the box's name.
 */
export function VmCard({ boxId, boxName, blocked }: { boxId: string; boxName: string; blocked: string | null }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [stopTimeout, setStopTimeout] = useState(60);
  const [lastJob, setLastJob] = useState<string | null>(null);
  const status = useQuery({
    ...trpc.vms.ofBox.queryOptions({ boxId }),
    retry: false,
    refetchInterval: (query) => (query.state.data?.activeJob ? 1_500 : 10_000),
  });
  const refetch = () => queryClient.invalidateQueries({ queryKey: trpc.vms.ofBox.queryKey({ boxId }) });
  const queued = ({ jobId }: { jobId: string }) => {
    setLastJob(jobId);
    jobQueued({ jobId });
  };
  const act = useMutation(trpc.vms.boxAction.mutationOptions({ onSuccess: queued, onError: failed, onSettled: refetch }));
  const power = useMutation(trpc.vms.power.mutationOptions({ onSuccess: queued, onError: failed }));

  if (status.error) {
    return (
      <Card title="Virtual machine">
        <ErrorNote error={status.error} />
      </Card>
    );
  }
  if (status.isPending) return null;
  const vm = status.data;
  const jobLink = lastJob && (
    <p className="mt-3 text-sm">
      <Link href={`/jobs/${lastJob}`} className="text-indigo-700 hover:underline">
        Follow the job and its log
      </Link>
    </p>
  );

  if (!vm) {
    const powerDialog = (action: 'reboot' | 'poweroff') => {
      const verb = action === 'reboot' ? 'Reboot' : 'Power off';
      return (
        <ConfirmDialog
          trigger={
            <Button variant={action === 'reboot' ? 'secondary' : 'danger'} disabled={power.isPending || blocked !== null}>
              {verb}…
            </Button>
          }
          title={`${verb} ${boxName}?`}
          description={
            action === 'reboot'
              ? 'Its terminals and running programs end; it comes back once it has booted.'
              : 'Its terminals and running programs end, and it stays off until someone starts it where it runs.'
          }
          confirmLabel={verb}
          typeToConfirm={boxName}
          onConfirm={(typed) => power.mutate({ boxId, action, confirmName: typed })}
        />
      );
    };
    return (
      <Card title="Power">
        <p className="mb-3 text-sm text-slate-600">A plain SSH box: Boxyard can reboot or power it off from inside (needs passwordless sudo).</p>
        <div className="flex gap-2">
          {powerDialog('reboot')}
          {powerDialog('poweroff')}
        </div>
        {blocked && <BlockedReason reason={blocked} />}
        <ErrorNote error={power.error} />
        {jobLink}
      </Card>
    );
  }

  return (
    <Card title="Virtual machine" actions={<StopTimeoutField value={stopTimeout} onChange={setStopTimeout} />}>
      <dl className="mb-4 grid gap-4 sm:grid-cols-3">
        <Fact label="State">{vm.vm ? <VmStateBadge state={vm.vm.state} rawState={vm.vm.rawState} /> : '—'}</Fact>
        <Fact label="Host">
          {vm.host ? (
            <Link href={`/hosts/${vm.host.id}`} className="text-indigo-700 hover:underline">
              {vm.host.name}
            </Link>
          ) : (
            '—'
          )}
        </Fact>
        <Fact label="VM">
          <span className="font-mono text-xs break-all">{vm.vm?.name ?? vm.vmId}</span>
        </Fact>
      </dl>
      {vm.problem && (
        <p role="alert" className="mb-3 rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-900 ring-1 ring-amber-200" data-vm-problem>
          {vm.problem}
        </p>
      )}
      {vm.vm && (
        <VmButtons
          vmName={vm.vm.name}
          actions={vm.actions}
          activeJob={vm.activeJob}
          pending={act.isPending}
          onAction={(action) => act.mutate({ boxId, action, stopTimeoutSeconds: action === 'stop' ? stopTimeout : undefined })}
        />
      )}
      <ErrorNote error={act.error} />
      {jobLink}
    </Card>
  );
}

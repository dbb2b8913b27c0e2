'use client';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useParams, useRouter, useSearchParams } from 'next/navigation';
import { Fragment, useState } from 'react';
import { DataTable, type Column } from '../../../../components/data-table';
import { ShareRootsForm } from '../../../../components/hosts/share-roots-form';
import { VmStateBadge } from '../../../../components/hosts/vm-state-badge';
import { Fact } from '../../../../components/fact';
import { word } from '../../../../lib/words';
import { ImportVmForm } from '../../../../components/vms/import-vm-form';
import { TemplateForm } from '../../../../components/vms/template-form';
import { StopTimeoutField, VmButtons } from '../../../../components/vms/vm-buttons';
import { ConfirmDialog } from '../../../../components/confirm-dialog';
import { failed, jobQueued, succeeded } from '../../../../components/toasts';
import { useTRPC } from '../../../../components/trpc';
import { Button, Card, ErrorNote, PageHeader } from '../../../../components/ui';
import { formatBytes, formatWhen } from '../../../../lib/format';

const vmColumns: Column[] = [{ label: 'VM' }, { label: 'State' }, { label: 'CPUs' }, { label: 'Memory' }, { label: 'IP' }, { label: 'Box' }, { label: 'Actions' }];

export default function HostPage() {
  const { id } = useParams<{ id: string }>();
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const host = useQuery(trpc.hosts.get.queryOptions({ id }));
  // The driver's error is already a plain sentence (e.g. the tool is missing): show it as is, without retrying.
  // Live: polled, faster while a lifecycle job runs on one of the VMs.
  const vms = useQuery({
    ...trpc.vms.onHost.queryOptions({ hostId: id }),
    retry: false,
    refetchInterval: (query) => (query.state.data?.some((vm) => vm.activeJob) ? 1_500 : 10_000),
  });
  const [stopTimeout, setStopTimeout] = useState(60);
  const [importing, setImporting] = useState<string | null>(null);
  // `?new=template` (from the add-box page) opens the template form at once.
  const searchParams = useSearchParams();
  const [templateFor, setTemplateFor] = useState<string | null>(searchParams.get('new') === 'template' ? '' : null);
  const [lastJob, setLastJob] = useState<string | null>(null);
  const act = useMutation(
    trpc.vms.hostAction.mutationOptions({
      onSuccess: ({ jobId }) => {
        setLastJob(jobId);
        jobQueued({ jobId });
      },
      onError: failed,
      onSettled: () => queryClient.invalidateQueries({ queryKey: trpc.vms.onHost.queryKey({ hostId: id }) }),
    }),
  );
  const remove = useMutation(
    trpc.hosts.delete.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries({ queryKey: trpc.hosts.pathKey() });
        succeeded('Host deleted.');
        router.push('/hosts');
      },
      onError: failed,
    }),
  );

  if (host.error) return <ErrorNote error={host.error} />;
  if (!host.data) return <p className="text-sm text-slate-500">Loading…</p>;
  const h = host.data;

  return (
    <>
      <PageHeader
        parent={{ href: '/hosts', label: 'Hosts' }}
        title={h.name}
      >
        <Button
          variant="secondary"
          onClick={async () => {
            await vms.refetch();
            await queryClient.invalidateQueries({ queryKey: trpc.hosts.get.queryKey({ id }) });
          }}
          disabled={vms.isFetching}
        >
          {vms.isFetching ? 'Refreshing…' : 'Refresh'}
        </Button>
        <ConfirmDialog
          trigger={
            <Button variant="danger" disabled={remove.isPending}>
              Delete host
            </Button>
          }
          title={`Delete the host ${h.name}?`}
          description="Boxyard forgets the host and its sign-in. Its VMs are not touched."
          confirmLabel="Delete host"
          typeToConfirm={h.name}
          onConfirm={() => remove.mutate({ id })}
        />
      </PageHeader>
      <ErrorNote error={remove.error} />

      <div className="space-y-6">
        <Card title="Host">
          <dl className="grid gap-4 sm:grid-cols-3">
            <Fact label="Hypervisor">{word('hypervisorKinds', h.kind)}</Fact>
            <Fact label="Address">
              <span className="font-mono text-xs">
                {h.sshUser}@{h.host}:{h.port}
              </span>
            </Fact>
            <Fact label="Version">{h.hypervisorVersion ?? '—'}</Fact>
            <Fact label="Sign-in">{h.authMethod}</Fact>
            <Fact label="Host key">
              <span className="font-mono text-xs break-all">{h.hostKey ? `${h.hostKey.fingerprint} (${h.hostKey.algorithm ?? '?'})` : 'not pinned yet'}</span>
            </Fact>
            <Fact label="Last checked">{h.lastCheckedAt ? formatWhen(h.lastCheckedAt) : '—'}</Fact>
          </dl>
        </Card>

        {h.capabilities.sharedFolders.transports.length > 0 && <ShareRootsForm hostId={id} hostName={h.name} roots={h.shareRoots} />}

        <section aria-labelledby="vms-heading" className="space-y-3">
          <div className="flex flex-wrap items-center justify-between gap-3">
            <h2 id="vms-heading" className="text-base font-semibold">
              Virtual machines
            </h2>
            <div className="flex items-center gap-3">
              <StopTimeoutField value={stopTimeout} onChange={setStopTimeout} />
              {h.capabilities.vms && !!vms.data?.length && (
                <Button variant="secondary" onClick={() => setTemplateFor(templateFor === null ? '' : null)}>
                  New box from template
                </Button>
              )}
            </div>
          </div>
          {templateFor !== null && vms.data && (
            <TemplateForm hostId={id} templates={vms.data} initialTemplateId={templateFor || undefined} onDone={() => setTemplateFor(null)} />
          )}
          <ErrorNote error={act.error} />
          {lastJob && (
            <p className="text-sm">
              <Link href={`/jobs/${lastJob}`} className="text-indigo-700 hover:underline">
                Follow the last job and its log
              </Link>
            </p>
          )}
          {vms.error ? (
            <ErrorNote error={vms.error} />
          ) : vms.isPending ? (
            <p className="text-sm text-slate-500">Asking the host…</p>
          ) : (
            <DataTable empty={vms.data?.length === 0 ? 'This host has no VMs.' : null} label="Virtual machines" columns={vmColumns}>
              {vms.data?.map((vm) => (
                <Fragment key={vm.id}>
                  <tr data-vm={vm.name} data-state={vm.state} className="hover:bg-slate-50">
                    <td className="px-4 py-3">
                      <div className="font-medium">{vm.name}</div>
                      <div className="font-mono text-xs text-slate-500">{vm.id}</div>
                    </td>
                    <td className="px-4 py-3">
                      <VmStateBadge state={vm.state} rawState={vm.rawState} />
                    </td>
                    <td className="px-4 py-3 text-slate-700">{vm.cpus ?? '—'}</td>
                    <td className="px-4 py-3 text-slate-700">{vm.memoryMiB !== undefined ? formatBytes(vm.memoryMiB * 1024 * 1024) : '—'}</td>
                    <td className="px-4 py-3 font-mono text-xs text-slate-700">{vm.ip ?? '—'}</td>
                    <td className="px-4 py-3 text-sm">
                      {vm.box ? (
                        <Link href={`/boxes/${vm.box.id}`} className="text-indigo-700 hover:underline">
                          {vm.box.name}
                        </Link>
                      ) : (
                        <Button variant="ghost" className="px-2 py-1 text-xs" aria-label={`Import ${vm.name} as a box`} onClick={() => setImporting(importing === vm.id ? null : vm.id)}>
                          Import…
                        </Button>
                      )}
                    </td>
                    <td className="px-4 py-3">
                      <div className="flex flex-wrap items-center gap-1.5">
                        <VmButtons
                          vmName={vm.name}
                          actions={vm.actions}
                          activeJob={vm.activeJob}
                          pending={act.isPending}
                          onAction={(action) =>
                            act.mutate({ hostId: id, vmId: vm.id, action, stopTimeoutSeconds: action === 'stop' ? stopTimeout : undefined })
                          }
                        />
                        {!vm.activeJob && (vm.state === 'stopped' || vm.state === 'paused') && (
                          <Button variant="ghost" className="px-2 py-1 text-xs" aria-label={`Clone ${vm.name}`} onClick={() => setTemplateFor(vm.id)}>
                            Clone…
                          </Button>
                        )}
                      </div>
                    </td>
                  </tr>
                  {importing === vm.id && (
                    <tr>
                      <td colSpan={vmColumns.length} className="px-4 pb-3">
                        <ImportVmForm hostId={id} vm={vm} onDone={() => setImporting(null)} />
                      </td>
                    </tr>
                  )}
                </Fragment>
              ))}
            </DataTable>
          )}
        </section>
      </div>
    </>
  );
}

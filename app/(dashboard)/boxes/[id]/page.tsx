'use client';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { TRPCClientError } from '@trpc/client';
import { useParams, useRouter } from 'next/navigation';
import { ConnectPanel } from '../../../../components/connect-panel';
import { BoxJobsCard } from '../../../../components/jobs/box-jobs-card';
import { MetricsCard } from '../../../../components/metrics/metrics-card';
import { MountsCard } from '../../../../components/mounts/mounts-card';
import { NotFound } from '../../../../components/not-found';
import { PortsCard } from '../../../../components/ports/ports-card';
import { PreviewsCard } from '../../../../components/previews/previews-card';
import { StatusBadge } from '../../../../components/status-badge';
import { TerminalsCard } from '../../../../components/terminal/terminals-card';
import { VmCard } from '../../../../components/vms/vm-card';
import { Fact } from '../../../../components/fact';
import { ConfirmDialog } from '../../../../components/confirm-dialog';
import { failed, succeeded } from '../../../../components/toasts';
import { useTRPC } from '../../../../components/trpc';
import { Button, Card, ErrorNote, PageHeader } from '../../../../components/ui';
import { boxActionsBlocked } from '../../../../lib/box-actions';
import { errorMessage } from '../../../../lib/errors';
import { formatBytes, formatDuration, formatWhen } from '../../../../lib/format';

function UsageBar({ label, used, total }: { label: string; used: number | null; total: number | null }) {
  if (used === null || !total) return null;
  const percent = Math.round((used / total) * 100);
  return (
    <div>
      <div className="flex justify-between text-xs text-slate-600">
        <span>{label}</span>
        <span>
          {formatBytes(used)} of {formatBytes(total)} used
        </span>
      </div>
      <div className="mt-1 h-2 rounded-full bg-slate-100" role="meter" aria-label={`${label} used`} aria-valuenow={percent} aria-valuemin={0} aria-valuemax={100}>
        <div className={`h-2 rounded-full ${percent > 90 ? 'bg-red-500' : percent > 75 ? 'bg-amber-500' : 'bg-indigo-500'}`} style={{ width: `${percent}%` }} />
      </div>
    </div>
  );
}

export default function BoxPage() {
  const { id } = useParams<{ id: string }>();
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const me = useQuery(trpc.users.me.queryOptions());
  const box = useQuery({ ...trpc.boxes.get.queryOptions({ id }), refetchInterval: 5_000 });
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.boxes.pathKey() });
  const refresh = useMutation(trpc.boxes.refresh.mutationOptions({ onSettled: invalidate }));
  const repin = useMutation(trpc.boxes.repin.mutationOptions({ onSettled: invalidate }));
  const remove = useMutation(
    trpc.boxes.delete.mutationOptions({
      onSuccess: async () => {
        await invalidate();
        succeeded('Box removed from Boxyard.');
        router.push('/');
      },
      onError: failed,
    }),
  );

  // NOT_FOUND is final (providers.tsx does not retry it): an unknown or forbidden box says so at once.
  if (box.error instanceof TRPCClientError && box.error.data?.code === 'NOT_FOUND') {
    return <NotFound what="Box" detail={errorMessage(box.error)} />;
  }
  if (box.error) return <ErrorNote error={box.error} />;
  if (!box.data) return <p className="text-sm text-slate-500">Loading…</p>;
  const b = box.data;
  const f = b.facts;
  const isAdmin = me.data?.role === 'admin';
  const blocked = boxActionsBlocked(b);

  return (
    <>
      <PageHeader
        parent={{ href: '/', label: 'Fleet' }}
        title={
          <>
            {b.name} <StatusBadge status={b.status} />
          </>
        }
      >
        <Button variant="secondary" onClick={() => refresh.mutate({ id })} disabled={refresh.isPending}>
          {refresh.isPending ? 'Gathering facts…' : 'Refresh facts'}
        </Button>
        {isAdmin && (
          <ConfirmDialog
            trigger={
              <Button variant="danger" disabled={remove.isPending}>
                Remove
              </Button>
            }
            title={`Remove ${b.name} from Boxyard?`}
            description="Its terminals and tunnels end, and its jobs' records stay. Nothing on the box itself is changed."
            confirmLabel="Remove box"
            typeToConfirm={b.name}
            onConfirm={() => remove.mutate({ id })}
          />
        )}
      </PageHeader>

      <div className="space-y-6">
        <ErrorNote error={refresh.error ?? remove.error} />
        {b.status !== 'online' && b.statusMessage && (
          <div role="status" className="rounded-md bg-amber-50 px-4 py-3 text-sm text-amber-900 ring-1 ring-amber-200" data-testid="box-status-message">
            {b.statusMessage}
          </div>
        )}

        {b.status === 'host-key-mismatch' && b.offeredHostKeyFingerprint && (
          <Card title="Host key changed">
            <p className="text-sm text-slate-700">
              The box offered a different host key than the one pinned. This happens when the box was rebuilt, and also when someone is
              intercepting the connection. Boxyard refuses to connect until an admin trusts the new key. Compare it with the box&apos;s
              own <code className="rounded bg-slate-100 px-1">ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub</code> first.
            </p>
            <dl className="mt-3 grid gap-2 font-mono text-xs sm:grid-cols-2">
              <Fact label="Pinned">{b.hostKey?.fingerprint}</Fact>
              <Fact label="Offered now">{b.offeredHostKeyFingerprint}</Fact>
            </dl>
            {isAdmin && (
              <div className="mt-4">
                <Button variant="danger" disabled={repin.isPending} onClick={() => repin.mutate({ id, fingerprint: b.offeredHostKeyFingerprint! })}>
                  Trust the new key
                </Button>
                <ErrorNote error={repin.error} />
              </div>
            )}
          </Card>
        )}

        <div className="grid gap-6 lg:grid-cols-3">
          <div className="space-y-6 lg:col-span-2">
            <Card title="Facts">
              {f ? (
                <div className="space-y-5">
                  <dl className="grid grid-cols-2 gap-4 sm:grid-cols-3">
                    <Fact label="OS">{f.os.name || f.os.id || 'unknown'}</Fact>
                    <Fact label="Kernel">{f.kernel}</Fact>
                    <Fact label="Architecture">{f.arch}</Fact>
                    <Fact label="CPUs">{f.cpus ?? '—'}</Fact>
                    <Fact label="Memory">{formatBytes(f.memoryTotalBytes)}</Fact>
                    <Fact label="Virtualization">{f.virtualization}</Fact>
                    <Fact label="Docker">{f.docker.server ? `${f.docker.server} (daemon)` : f.docker.client ? `${f.docker.client} (client only)` : 'not installed'}</Fact>
                    <Fact label="Uptime">{formatDuration(f.uptimeSeconds)}</Fact>
                    <Fact label="Gathered">{formatWhen(b.factsAt)}</Fact>
                  </dl>
                  <div className="space-y-3">
                    <UsageBar label="Memory" used={f.memoryTotalBytes !== null && f.memoryAvailableBytes !== null ? f.memoryTotalBytes - f.memoryAvailableBytes : null} total={f.memoryTotalBytes} />
                    <UsageBar label="Disk /" used={f.diskTotalBytes !== null && f.diskFreeBytes !== null ? f.diskTotalBytes - f.diskFreeBytes : null} total={f.diskTotalBytes} />
                  </div>
                </div>
              ) : (
                <p className="text-sm text-slate-500">No facts yet: the box has not been reached.</p>
              )}
            </Card>
          </div>
          <div className="space-y-6">
            <Card title="Connection">
              <dl className="space-y-3">
                <Fact label="Address">
                  <span className="font-mono">
                    {b.sshUser}@{b.host}:{b.port}
                  </span>
                </Fact>
                <Fact label="Signs in with">{{ 'dashboard-key': "the dashboard's key", 'private-key': 'an imported key', password: 'a password' }[b.authMethod] ?? b.authMethod}</Fact>
                <Fact label="Host key">
                  <span className="break-all font-mono text-xs">{b.hostKey ? `${b.hostKey.algorithm ?? ''} ${b.hostKey.fingerprint}` : 'pinned on first connection'}</span>
                </Fact>
                <Fact label="Last checked">{formatWhen(b.statusCheckedAt)}</Fact>
              </dl>
            </Card>
            <Card title="People">
              <dl className="space-y-3">
                <Fact label="Owner">{b.owner.email}</Fact>
                <Fact label="Shared with">{b.members.length ? b.members.map((m) => m.email).join(', ') : 'nobody else'}</Fact>
                <Fact label="Tags">{b.tags.length ? b.tags.join(', ') : '—'}</Fact>
              </dl>
              {b.notes && <p className="mt-3 whitespace-pre-wrap text-sm text-slate-700">{b.notes}</p>}
            </Card>
          </div>
        </div>

        <VmCard boxId={id} boxName={b.name} blocked={blocked} />
        <MetricsCard boxId={id} />
        <PortsCard boxId={id} boxName={b.name} />
        <TerminalsCard boxId={id} online={b.status === 'online'} blocked={blocked} />
        <BoxJobsCard boxId={id} isAdmin={isAdmin} blocked={blocked} />
        <MountsCard boxId={id} />
        <PreviewsCard boxId={id} boxName={b.name} mayShare={isAdmin || b.owner.id === me.data?.id} />
        <ConnectPanel boxId={id} />
      </div>
    </>
  );
}

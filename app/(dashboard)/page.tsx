'use client';
import { useMutation, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useDeferredValue, useState } from 'react';
import { BatchProgress, type BatchEntry } from '../../components/jobs/batch-progress';
import { ProvisionForm, type DockerProvisionSettings } from '../../components/jobs/provision-form';
import { StatusBadge } from '../../components/status-badge';
import { useTRPC } from '../../components/trpc';
import { DataTable, type Column } from '../../components/data-table';
import { FleetActivityCell, FleetMetricsSummary } from '../../components/metrics/activity';
import { Card, ErrorNote, Input, PageHeader, Select } from '../../components/ui';
import { formatBytes } from '../../lib/format';
import { boxStatuses, type BoxStatus } from '../../lib/validation';
import { errorMessage } from '../../lib/errors';

function fleetColumns(selectable: boolean): Column[] {
  return [
    ...(selectable ? [{ label: 'Select', srOnly: true, className: 'w-8' }] : []),
    { label: 'Box' },
    { label: 'Status' },
    { label: 'Activity (CPU, last hour)' },
    { label: 'OS' },
    { label: 'CPU / memory / disk free' },
    { label: 'Docker' },
    { label: 'Owner' },
    { label: 'Tags' },
  ];
}

export default function FleetPage() {
  const trpc = useTRPC();
  const [search, setSearch] = useState('');
  const [status, setStatus] = useState<BoxStatus | ''>('');
  const [tag, setTag] = useState('');
  const deferredSearch = useDeferredValue(search);
  const me = useQuery(trpc.users.me.queryOptions());
  // Polling keeps status live without a reload; the server's status poller does the SSH work.
  const boxes = useQuery({
    ...trpc.boxes.list.queryOptions({ search: deferredSearch || undefined, status: status || undefined, tag: tag || undefined }),
    refetchInterval: 5_000,
    placeholderData: (previous) => previous,
  });
  const allTags = [...new Set((boxes.data ?? []).flatMap((b) => b.tags))].sort();
  const isAdmin = me.data?.role === 'admin';
  const columns = fleetColumns(isAdmin);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [batch, setBatch] = useState<BatchEntry[] | null>(null);
  const provision = useMutation(trpc.provision.docker.mutationOptions());
  const toggle = (id: string) =>
    setSelected((previous) => {
      const next = new Set(previous);
      if (!next.delete(id)) next.add(id);
      return next;
    });

  /** One job per selected box, queued together; the runner runs them in parallel up to its concurrency. */
  async function provisionSelected(settings: DockerProvisionSettings) {
    const chosen = (boxes.data ?? []).filter((b) => selected.has(b.id));
    const entries = await Promise.all(
      chosen.map((box) =>
        provision.mutateAsync({ boxId: box.id, ...settings }).then(
          ({ jobId }): BatchEntry => ({ boxName: box.name, jobId }),
          (error: unknown): BatchEntry => ({ boxName: box.name, error: errorMessage(error) }),
        ),
      ),
    );
    setBatch(entries);
    setSelected(new Set());
  }

  const emptyFleet = search || status || tag ? 'No box matches these filters.' : isAdmin ? 'No boxes yet. Add the first one.' : 'No boxes have been shared with you yet.';
  return (
    <>
      <PageHeader title="Fleet">
        {isAdmin && (
          <Link href="/boxes/new" className="rounded-md bg-indigo-600 px-3 py-1.5 text-sm font-medium text-white shadow-sm hover:bg-indigo-500">
            Add box
          </Link>
        )}
      </PageHeader>

      <div className="mb-4 flex flex-wrap gap-3" role="search">
        <Input aria-label="Search boxes" placeholder="Search name, host, owner, OS, tag…" value={search} onChange={(e) => setSearch(e.target.value)} className="max-w-sm" />
        <Select aria-label="Filter by status" value={status} onChange={(e) => setStatus(e.target.value as BoxStatus | '')} className="max-w-48">
          <option value="">All statuses</option>
          {boxStatuses.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </Select>
        <Select aria-label="Filter by tag" value={tag} onChange={(e) => setTag(e.target.value)} className="max-w-48">
          <option value="">All tags</option>
          {allTags.map((t) => (
            <option key={t}>{t}</option>
          ))}
        </Select>
      </div>

      {isAdmin && (selected.size > 0 || batch) && (
        <div className="mb-4">
          <Card title={selected.size > 0 ? `Provision Docker on ${selected.size} selected box${selected.size === 1 ? '' : 'es'}` : 'Provisioning'}>
            {selected.size > 0 && <ProvisionForm submitLabel={`Provision ${selected.size}`} pending={provision.isPending} onSubmit={(s) => void provisionSelected(s)} />}
            {batch && <BatchProgress entries={batch} />}
          </Card>
        </div>
      )}
      <FleetMetricsSummary isAdmin={isAdmin} />
      <ErrorNote error={boxes.error} />
      <DataTable empty={boxes.data?.length === 0 ? emptyFleet : null} label="Boxes" columns={columns}>
        {boxes.data?.map((box) => (
          <tr key={box.id} data-box={box.name} className="align-top hover:bg-slate-50">
            {isAdmin && (
              <td className="px-4 py-3">
                <input type="checkbox" aria-label={`Select ${box.name}`} checked={selected.has(box.id)} onChange={() => toggle(box.id)} />
              </td>
            )}
            <td className="px-4 py-3">
              <Link href={`/boxes/${box.id}`} className="font-medium text-indigo-700 hover:underline">
                {box.name}
              </Link>
              <div className="font-mono text-xs text-slate-500">
                {box.sshUser}@{box.host}:{box.port}
              </div>
            </td>
            <td className="px-4 py-3">
              <StatusBadge status={box.status} />
              {box.statusMessage && <div className="mt-1 max-w-xs text-xs text-slate-600" data-testid="status-message">{box.statusMessage}</div>}
            </td>
            <td className="px-4 py-3">
              <FleetActivityCell boxId={box.id} boxName={box.name} />
            </td>
            <td className="px-4 py-3">
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
            <td className="px-4 py-3 text-slate-700">
              {box.facts ? `${box.facts.cpus ?? '?'} CPU · ${formatBytes(box.facts.memoryTotalBytes)} · ${formatBytes(box.facts.diskFreeBytes)}` : '—'}
            </td>
            <td className="px-4 py-3">{box.facts?.docker.server ?? box.facts?.docker.client ?? <span className="text-slate-400">none</span>}</td>
            <td className="px-4 py-3 text-slate-700">{box.owner.email}</td>
            <td className="px-4 py-3">
              <div className="flex flex-wrap gap-1">
                {box.tags.map((t) => (
                  <button key={t} type="button" onClick={() => setTag(t)} className="rounded bg-slate-100 px-1.5 py-0.5 text-xs text-slate-700 hover:bg-slate-200">
                    {t}
                  </button>
                ))}
              </div>
            </td>
          </tr>
        ))}
      </DataTable>
    </>
  );
}

'use client';
import { useMutation, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useDeferredValue, useMemo, useState } from 'react';
import { BatchProgress, type BatchEntry } from '../../components/jobs/batch-progress';
import { ProvisionForm, type DockerProvisionSettings } from '../../components/jobs/provision-form';
import { FirstRunChecklist } from '../../components/first-run-checklist';
import { fleetBoxesQuery } from '../../components/fleet-queries';
import { FleetTable, sortFleet, StatusCounts, type FleetSort } from '../../components/fleet-table';
import { useTRPC } from '../../components/trpc';
import { FleetMetricsSummary } from '../../components/metrics/activity';
import { Card, ErrorNote, Input, PageHeader, Select } from '../../components/ui';
import { matchesBoxFilter } from '../../lib/box-filter';
import { boxStatuses, type BoxStatus } from '../../lib/validation';
import { words } from '../../lib/words';
import { errorMessage } from '../../lib/errors';

export default function FleetPage() {
  const trpc = useTRPC();
  const [search, setSearch] = useState('');
  const [status, setStatus] = useState<BoxStatus | ''>('');
  const [tag, setTag] = useState('');
  const deferredSearch = useDeferredValue(search);
  const [sort, setSort] = useState<FleetSort>({ key: 'name', direction: 'ascending' });
  const me = useQuery(trpc.users.me.queryOptions());
  // The whole fleet (fleetBoxesQuery): the counts per status need every box, and filtering and sorting a few hundred
  // rows here answers within a frame, without a round trip. The fleet's own query carries only the table's columns;
  // an unchanged poll keeps the same array (structural sharing), so the sorted orders and every row stay as they are.
  const boxes = useQuery(fleetBoxesQuery(trpc));
  const all = useMemo(() => boxes.data ?? [], [boxes.data]);
  const allTags = useMemo(() => [...new Set(all.flatMap((b) => b.tags))].sort(), [all]);
  const visible = useMemo(() => {
    const filter = { search: deferredSearch, status: status || undefined, tag: tag || undefined };
    // Sorted first (cached per list and key), then filtered: filtering keeps the order.
    return sortFleet(all, sort).filter((box) => matchesBoxFilter(box, filter));
  }, [all, deferredSearch, status, tag, sort]);
  const isAdmin = me.data?.role === 'admin';
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [batch, setBatch] = useState<BatchEntry[] | null>(null);
  const provision = useMutation(trpc.provision.docker.mutationOptions());

  /** One job per selected box, queued together; the runner runs them in parallel up to its concurrency. */
  async function provisionSelected(settings: DockerProvisionSettings) {
    const chosen = all.filter((b) => selected.has(b.id));
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

      {isAdmin && <FirstRunChecklist />}
      {all.length > 0 && <StatusCounts boxes={all} active={status} onChoose={setStatus} />}
      <div className="mb-4 flex flex-wrap gap-3" role="search">
        <Input aria-label="Search boxes" placeholder="Search name, host, owner, OS, tag…" value={search} onChange={(e) => setSearch(e.target.value)} className="max-w-sm" />
        <Select aria-label="Filter by status" value={status} onChange={(e) => setStatus(e.target.value as BoxStatus | '')} className="max-w-48">
          <option value="">All statuses</option>
          {boxStatuses.map((s) => (
            <option key={s} value={s}>
              {words.boxStatuses[s]}
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
      {boxes.data && (
        <FleetTable
          filterKey={`${deferredSearch}|${status}|${tag}`}
          boxes={visible}
          sort={sort}
          onSort={setSort}
          onTag={setTag}
          selection={isAdmin ? { selected, set: setSelected } : null}
          empty={emptyFleet}
        />
      )}
    </>
  );
}

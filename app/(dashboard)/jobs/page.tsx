'use client';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { DataTable } from '../../../components/data-table';
import { JobStatusBadge } from '../../../components/jobs/job-status';
import { failed, jobQueued } from '../../../components/toasts';
import { useTRPC } from '../../../components/trpc';
import { Button, ErrorNote, PageHeader, Select } from '../../../components/ui';
import { formatWhen } from '../../../lib/format';
import { isActiveJobStatus, jobStatuses, type JobStatus } from '../../../lib/job-status';

const PAGE_SIZE = 25;
/** The value of the "who started it" filter meaning the dashboard itself (a job without a user). */
const DASHBOARD = '\u0000dashboard';

/**
 * Every job the user may see (admins all, developers their boxes'), newest first, filtered by box, kind, status and
 * who started it; polled, so new jobs and status changes show up without a reload. Admins retry failed or cancelled
 * jobs and cancel queued or running ones from here.
 */
export default function JobsPage() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const me = useQuery(trpc.users.me.queryOptions());
  const isAdmin = me.data?.role === 'admin';
  const [boxId, setBoxId] = useState('');
  const [kind, setKind] = useState('');
  const [status, setStatus] = useState<JobStatus | ''>('');
  const [startedBy, setStartedBy] = useState('');
  /** The cursors of the pages before this one; the last is this page's. */
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const filter = {
    boxId: boxId || undefined,
    kind: kind || undefined,
    status: status || undefined,
    startedBy: startedBy === '' ? undefined : startedBy === DASHBOARD ? null : startedBy,
  };
  const options = useQuery({ ...trpc.jobs.filterOptions.queryOptions(), refetchInterval: 30_000 });
  const jobs = useQuery({ ...trpc.jobs.page.queryOptions({ ...filter, cursor, limit: PAGE_SIZE }), refetchInterval: 3_000 });
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.jobs.page.pathKey() });
  const retry = useMutation(trpc.jobs.retry.mutationOptions({ onSuccess: jobQueued, onError: failed, onSettled: refresh }));
  const cancel = useMutation(trpc.jobs.cancel.mutationOptions({ onSuccess: () => void refresh(), onError: failed }));

  /** A new filter starts again at the newest page. */
  const filtered = <T,>(set: (value: T) => void) => (value: T) => {
    set(value);
    setCursors([undefined]);
  };

  return (
    <>
      <PageHeader title="Jobs" />
      <form className="mb-4 grid gap-3 sm:grid-cols-2 lg:grid-cols-4" aria-label="Filter jobs" onSubmit={(e) => e.preventDefault()}>
        <Select aria-label="Box" value={boxId} onChange={(e) => filtered(setBoxId)(e.target.value)}>
          <option value="">Every box</option>
          {options.data?.boxes.map((box) => (
            <option key={box.id} value={box.id}>
              {box.name}
            </option>
          ))}
        </Select>
        <Select aria-label="Kind" value={kind} onChange={(e) => filtered(setKind)(e.target.value)}>
          <option value="">Every kind</option>
          {options.data?.kinds.map((k) => (
            <option key={k.kind} value={k.kind}>
              {k.title}
            </option>
          ))}
        </Select>
        <Select aria-label="Status" value={status} onChange={(e) => filtered(setStatus)(e.target.value as JobStatus | '')}>
          <option value="">Every status</option>
          {jobStatuses.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </Select>
        <Select aria-label="Started by" value={startedBy} onChange={(e) => filtered(setStartedBy)(e.target.value)}>
          <option value="">Anyone</option>
          {options.data?.startedBy.map((email) => (
            <option key={email ?? DASHBOARD} value={email ?? DASHBOARD}>
              {email ?? 'the dashboard'}
            </option>
          ))}
        </Select>
      </form>
      <ErrorNote error={jobs.error ?? options.error} />
      <DataTable
        label="Jobs"
        columns={[{ label: 'Queued' }, { label: 'Job' }, { label: 'On' }, { label: 'Status' }, { label: 'Started by' }, { label: 'Actions', srOnly: true }]}
        empty={jobs.data?.items.length === 0 && 'No jobs match these filters.'}
      >
        {jobs.data?.items.map((job) => (
          <tr key={job.id} data-job-row={job.id}>
            <td className="whitespace-nowrap px-4 py-2 text-slate-600">{formatWhen(job.createdAt)}</td>
            <td className="px-4 py-2">
              <Link href={`/jobs/${job.id}`} className="font-medium text-indigo-700 hover:underline">
                {job.title}
              </Link>
              {job.error && <div className="max-w-md truncate text-xs text-red-700" title={job.error}>{job.error}</div>}
            </td>
            <td className="px-4 py-2">
              {job.boxId ? (
                <Link href={`/boxes/${job.boxId}`} className="hover:underline">
                  {job.boxName}
                </Link>
              ) : (
                job.hostName && <span>host {job.hostName}</span>
              )}
            </td>
            <td className="px-4 py-2">
              <JobStatusBadge status={job.status} />
            </td>
            <td className="px-4 py-2 text-slate-600">{job.createdByEmail ?? 'the dashboard'}</td>
            <td className="px-4 py-2 text-right">
              {isAdmin && (job.status === 'failed' || job.status === 'cancelled') && (
                <Button variant="secondary" disabled={retry.isPending} onClick={() => retry.mutate({ id: job.id })}>
                  Retry
                </Button>
              )}
              {isAdmin && isActiveJobStatus(job.status) && (
                <Button variant="ghost" disabled={cancel.isPending || job.cancelRequested} onClick={() => cancel.mutate({ id: job.id })}>
                  {job.cancelRequested ? 'Cancelling…' : 'Cancel'}
                </Button>
              )}
            </td>
          </tr>
        ))}
      </DataTable>
      <nav className="mt-4 flex items-center justify-between text-sm" aria-label="Pages of jobs">
        <Button variant="secondary" disabled={cursors.length === 1} onClick={() => setCursors((previous) => previous.slice(0, -1))}>
          Newer
        </Button>
        <span className="text-slate-500">Page {cursors.length}</span>
        <Button variant="secondary" disabled={!jobs.data?.nextCursor} onClick={() => setCursors((previous) => [...previous, jobs.data?.nextCursor])}>
          Older
        </Button>
      </nav>
    </>
  );
}

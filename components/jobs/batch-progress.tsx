'use client';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { isFinishedJobStatus } from '../../lib/job-status';
import { useTRPC } from '../trpc';
import { JobStatusBadge } from './job-status';
import { stepProgress, stepProgressText } from './step-progress';

/** One box's job in a batch: status and steps done, polled until it finishes. */
function BatchRow({ boxName, jobId, error }: { boxName: string; jobId?: string; error?: string }) {
  const trpc = useTRPC();
  const job = useQuery({
    ...trpc.jobs.get.queryOptions({ id: jobId ?? '' }),
    enabled: Boolean(jobId),
    refetchInterval: (query) => (isFinishedJobStatus(query.state.data?.status ?? '') ? false : 2_000),
  });
  const progress = stepProgress(job.data?.steps ?? []);
  return (
    <li className="flex items-center gap-3 py-1.5 text-sm" data-batch-box={boxName}>
      <span className="w-40 truncate font-medium">{boxName}</span>
      {error ? (
        <span className="text-red-700">{error}</span>
      ) : job.data ? (
        <>
          <JobStatusBadge status={job.data.status} />
          <progress className="h-2 w-32" max={progress.total || 1} value={progress.ran} aria-label={`${boxName} progress`} />
          <Link href={`/jobs/${jobId}`} className="text-xs text-indigo-700 hover:underline">
            {stepProgressText(progress)}
          </Link>
          {job.data.error && <span className="truncate text-xs text-red-700">{job.data.error}</span>}
        </>
      ) : (
        <span className="text-slate-500">queueing…</span>
      )}
    </li>
  );
}

export interface BatchEntry {
  boxName: string;
  jobId?: string;
  error?: string;
}

/** Per-box progress of a provisioning batch started from the fleet page. */
export function BatchProgress({ entries }: { entries: BatchEntry[] }) {
  return (
    <ul className="divide-y divide-slate-100" aria-label="Provisioning progress">
      {entries.map((entry) => (
        <BatchRow key={entry.boxName} {...entry} />
      ))}
    </ul>
  );
}

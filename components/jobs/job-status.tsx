import type { StepStatus } from '../../server/jobs/journal';
import { jobStatuses, type JobStatus } from '../../lib/job-status';
import { word } from '../../lib/words';

const look: Record<JobStatus | StepStatus, string> = {
  queued: 'bg-slate-100 text-slate-700 ring-slate-200',
  running: 'bg-indigo-50 text-indigo-800 ring-indigo-200',
  succeeded: 'bg-emerald-50 text-emerald-800 ring-emerald-200',
  failed: 'bg-red-50 text-red-800 ring-red-200',
  cancelled: 'bg-amber-50 text-amber-900 ring-amber-200',
  pending: 'bg-slate-50 text-slate-500 ring-slate-200',
  skipped: 'bg-slate-50 text-slate-400 ring-slate-200',
};

const jobStatusWords = new Set<string>(jobStatuses);

/** Status of a job or of one of its steps. */
export function JobStatusBadge({ status }: { status: string }) {
  return (
    <span data-job-status={status} className={`inline-flex rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${look[status as JobStatus | StepStatus] ?? look.pending}`}>
      {word(status in jobStatusWords ? 'jobStatuses' : 'stepStatuses', status)}
    </span>
  );
}

'use client';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useEffect, useRef, useState } from 'react';
import { formatWhen } from '../../lib/format';
import { isActiveJobStatus } from '../../lib/job-status';
import { word } from '../../lib/words';
import { useTRPC } from '../trpc';
import { Button, Card, ErrorNote } from '../ui';
import { JobStatusBadge } from './job-status';

interface LogLine {
  seq: number;
  level: string;
  stepIndex: number | null;
  text: string;
}

const levelStyle: Record<string, string> = { command: 'text-sky-300', error: 'text-red-300', warn: 'text-amber-300' };

/** A job's steps with progress, and its log streamed live (the stream resumes after the last line on reconnect). */
export function JobDetail({ jobId, isAdmin }: { jobId: string; isAdmin: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [lines, setLines] = useState<LogLine[]>([]);
  const [ended, setEnded] = useState(false);
  const job = useQuery({ ...trpc.jobs.get.queryOptions({ id: jobId }), refetchInterval: ended ? false : 2_000 });
  const cancel = useMutation(trpc.jobs.cancel.mutationOptions({ onSettled: () => queryClient.invalidateQueries({ queryKey: trpc.jobs.get.queryKey({ id: jobId }) }) }));
  const stream = useSubscription(
    trpc.jobs.logs.subscriptionOptions(
      { id: jobId },
      {
        onData: ({ data }) => {
          if (data.type === 'line') {
            const { seq, level, stepIndex, text } = data;
            setLines((previous) => (previous.length && previous[previous.length - 1]!.seq >= seq ? previous : [...previous, { seq, level, stepIndex, text }]));
          } else {
            setEnded(true);
            void queryClient.invalidateQueries({ queryKey: trpc.jobs.get.queryKey({ id: jobId }) });
          }
        },
      },
    ),
  );

  // Keep the newest line in view while the log grows, unless the reader scrolled up.
  const logRef = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const log = logRef.current;
    if (log && log.scrollHeight - log.scrollTop - log.clientHeight < 80) log.scrollTop = log.scrollHeight;
  }, [lines]);

  if (job.error) return <ErrorNote error={job.error} />;
  if (!job.data) return <p className="text-sm text-slate-500">Loading…</p>;
  const j = job.data;
  const done = j.steps.filter((s) => ['succeeded', 'skipped', 'failed'].includes(s.status)).length;
  const percent = j.steps.length ? Math.round((done / j.steps.length) * 100) : 0;
  const active = isActiveJobStatus(j.status);

  return (
    <div className="space-y-6" data-job={j.id}>
      <Card
        title={
          <span className="flex items-center gap-3">
            {word('jobKinds', j.kind)} on {[j.boxName, j.hostName && `host ${j.hostName}`].filter(Boolean).join(' on ')} <JobStatusBadge status={j.status} />
          </span>
        }
        actions={
          isAdmin && active ? (
            <Button variant="danger" disabled={cancel.isPending || j.cancelRequested} onClick={() => cancel.mutate({ id: j.id })}>
              {j.cancelRequested ? 'Cancelling…' : 'Cancel'}
            </Button>
          ) : null
        }
      >
        <div className="mb-4">
          <div className="flex justify-between text-xs text-slate-600">
            <span>
              {done} of {j.steps.length} steps
            </span>
            <span>started {formatWhen(j.startedAt)} by {j.createdByEmail ?? 'the dashboard'}</span>
          </div>
          <div className="mt-1 h-2 rounded-full bg-slate-100" role="progressbar" aria-label="Job progress" aria-valuenow={percent} aria-valuemin={0} aria-valuemax={100}>
            <div className={`h-2 rounded-full ${j.status === 'failed' ? 'bg-red-500' : 'bg-indigo-500'}`} style={{ width: `${percent}%` }} />
          </div>
        </div>
        {j.error && (
          <div role="alert" className="mb-4 rounded-md bg-red-50 px-3 py-2 text-sm text-red-800 ring-1 ring-red-200" data-testid="job-error">
            {j.error}
          </div>
        )}
        <ol className="space-y-1.5 text-sm">
          {j.steps.map((step) => (
            <li key={step.index} className="flex items-center gap-3" data-step={step.name}>
              <span className="w-5 text-right text-xs text-slate-400">{step.index + 1}</span>
              <JobStatusBadge status={step.status} />
              <span>{step.name}</span>
              {step.status === 'succeeded' && <span className="text-xs text-slate-500">{step.changed ? 'changed' : 'already done'}</span>}
              {step.attempts > 1 && <span className="text-xs text-amber-700">{step.attempts} attempts</span>}
              {step.error && <span className="text-xs text-red-700">{step.error}</span>}
            </li>
          ))}
        </ol>
        <ErrorNote error={cancel.error} />
      </Card>

      <Card title="Log">
        <p className="mb-2 text-xs text-slate-500" aria-live="polite">
          {ended ? 'Finished.' : stream.status === 'connecting' ? 'Connecting to the live log…' : stream.error ? 'Reconnecting to the live log…' : 'Live.'}
        </p>
        <pre ref={logRef} className="max-h-[32rem] overflow-auto rounded-md bg-slate-900 p-3 font-mono text-xs leading-relaxed text-slate-200" data-testid="job-log">
          {lines.map((line) => (
            <div key={line.seq} className={levelStyle[line.level] ?? ''}>
              {line.level === 'command' ? '$ ' : ''}
              {line.text}
            </div>
          ))}
        </pre>
      </Card>
    </div>
  );
}

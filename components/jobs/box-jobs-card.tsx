'use client';
import { useMutation, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { formatWhen } from '../../lib/format';
import { failed, jobQueued } from '../toasts';
import { word } from '../../lib/words';
import { useTRPC } from '../trpc';
import { Card, ErrorNote } from '../ui';
import { JobStatusBadge } from './job-status';
import { ProvisionForm } from './provision-form';

/** Provisioning on the box page: start a Docker job (admins) and the box's recent jobs. */
export function BoxJobsCard({ boxId, isAdmin, blocked }: { boxId: string; isAdmin: boolean; blocked: string | null }) {
  const trpc = useTRPC();
  const router = useRouter();
  const jobs = useQuery({ ...trpc.jobs.list.queryOptions({ boxId, limit: 10 }), refetchInterval: 5_000 });
  const provision = useMutation(
    trpc.provision.docker.mutationOptions({
      onSuccess: ({ jobId }) => {
        jobQueued({ jobId });
        router.push(`/jobs/${jobId}`);
      },
      onError: failed,
    }),
  );

  return (
    <Card title="Provisioning">
      {isAdmin && (
        <div className="mb-4 space-y-2">
          <p className="text-sm text-slate-600">
            Installs Docker, merges the log settings into /etc/docker/daemon.json, adds the box user to the docker group and installs the
            developers&apos; SSH keys. Safe to run again: finished work is skipped.
          </p>
          <ProvisionForm submitLabel="Provision Docker" pending={provision.isPending} blocked={blocked} onSubmit={(settings) => provision.mutate({ boxId, ...settings })} />
          <ErrorNote error={provision.error} />
        </div>
      )}
      {jobs.data?.length ? (
        <ul className="divide-y divide-slate-100 text-sm">
          {jobs.data.map((job) => (
            <li key={job.id} className="flex items-center gap-3 py-2">
              <JobStatusBadge status={job.status} />
              <Link href={`/jobs/${job.id}`} className="text-indigo-700 hover:underline">
                {word('jobKinds', job.kind)}
              </Link>
              <span className="text-xs text-slate-500">
                {formatWhen(job.createdAt)} · {job.createdByEmail ?? 'dashboard'}
              </span>
              {job.error && <span className="truncate text-xs text-red-700">{job.error}</span>}
            </li>
          ))}
        </ul>
      ) : (
        <p className="text-sm text-slate-500">No jobs yet.</p>
      )}
    </Card>
  );
}

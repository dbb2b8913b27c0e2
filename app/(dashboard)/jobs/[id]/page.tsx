'use client';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useParams } from 'next/navigation';
import { JobDetail } from '../../../../components/jobs/job-detail';
import { useTRPC } from '../../../../components/trpc';
import { PageHeader } from '../../../../components/ui';

export default function JobPage() {
  const { id } = useParams<{ id: string }>();
  const trpc = useTRPC();
  const me = useQuery(trpc.users.me.queryOptions());
  const job = useQuery(trpc.jobs.get.queryOptions({ id }));
  return (
    <>
      <PageHeader
        title={
          <span className="flex items-center gap-2">
            {job.data && (
              <Link
                href={job.data.boxId ? `/boxes/${job.data.boxId}` : `/hosts/${job.data.hostId}`}
                className="text-slate-400 hover:text-slate-600"
              >
                {job.data.boxName ?? job.data.hostName} /
              </Link>
            )}
            Job
          </span>
        }
      />
      <JobDetail jobId={id} isAdmin={me.data?.role === 'admin'} />
    </>
  );
}

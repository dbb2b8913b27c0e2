'use client';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { DataTable, type Column } from '../../../components/data-table';
import { useTRPC } from '../../../components/trpc';
import { ErrorNote, PageHeader } from '../../../components/ui';
import { word } from '../../../lib/words';

const columns: Column[] = [{ label: 'Host' }, { label: 'Hypervisor' }, { label: 'Address' }, { label: 'Version' }, { label: 'Last error' }];

export default function HostsPage() {
  const trpc = useTRPC();
  const hosts = useQuery(trpc.hosts.list.queryOptions());

  return (
    <>
      <PageHeader title="Hosts">
        <Link href="/hosts/new" className="rounded-md bg-indigo-600 px-3 py-1.5 text-sm font-medium text-white shadow-sm hover:bg-indigo-500">
          Add host
        </Link>
      </PageHeader>
      <ErrorNote error={hosts.error} />
      <DataTable empty={hosts.data?.length === 0 ? 'No hosts yet. Add the first one.' : null} label="Hosts" columns={columns}>
        {hosts.data?.map((host) => (
          <tr key={host.id} data-host={host.name} className="align-top hover:bg-slate-50">
            <td className="px-4 py-3">
              <Link href={`/hosts/${host.id}`} className="font-medium text-indigo-700 hover:underline">
                {host.name}
              </Link>
            </td>
            <td className="px-4 py-3 text-slate-700">{word('hypervisorKinds', host.kind)}</td>
            <td className="px-4 py-3 font-mono text-xs text-slate-600">
              {host.sshUser}@{host.host}:{host.port}
            </td>
            <td className="px-4 py-3 text-slate-700">{host.hypervisorVersion ?? <span className="text-slate-400">—</span>}</td>
            <td className="px-4 py-3">
              {host.lastError ? <span className="max-w-xs text-xs text-red-700">{host.lastError}</span> : <span className="text-slate-400">—</span>}
            </td>
          </tr>
        ))}
      </DataTable>
    </>
  );
}

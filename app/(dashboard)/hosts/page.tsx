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
      {hosts.data?.length === 0 && (
        <div className="mb-4 rounded-lg bg-white p-5 text-sm text-slate-700 shadow-sm ring-1 ring-slate-200" data-testid="hosts-explained">
          <h2 className="mb-2 font-semibold">What a host is for</h2>
          <p>
            A host is a machine that runs your team&apos;s VMs: a Mac with Parallels Desktop or UTM, or a Linux server with libvirt. Boxyard
            signs in to it over SSH and then starts, stops, suspends and clones its VMs; each VM becomes a box on the fleet, woken when
            someone connects. Boxes that are not VMs (a cloud VPS, a spare machine) need no host: add them on the fleet directly.
          </p>
        </div>
      )}
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

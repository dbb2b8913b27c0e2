'use client';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useTRPC } from '../trpc';
import { Card } from '../ui';
import { word } from '../../lib/words';

/**
 * The other ways to add a box, for admins on the add-box page: a new VM cloned from a template, or an existing VM
 * imported, on one of the hypervisor hosts. Both happen on the host's page (its VM list); this only leads there.
 */
export function VmBoxSources() {
  const trpc = useTRPC();
  const me = useQuery(trpc.users.me.queryOptions());
  const isAdmin = me.data?.role === 'admin';
  const hosts = useQuery({ ...trpc.hosts.list.queryOptions(), enabled: isAdmin });
  if (!isAdmin) return null;
  const hypervisors = hosts.data?.filter((host) => host.capabilities.vms) ?? [];
  return (
    <Card title="Or a VM on a hypervisor host">
      {hosts.isPending ? (
        <p className="text-sm text-slate-500">Loading hosts…</p>
      ) : hypervisors.length === 0 ? (
        <p className="text-sm text-slate-600">
          No hypervisor host yet. <Link href="/hosts/new" className="text-indigo-700 hover:underline">Add one</Link> (Parallels, UTM or libvirt, reached
          over SSH) to clone boxes from a template VM or import the VMs it runs.
        </p>
      ) : (
        <ul className="space-y-2 text-sm">
          {hypervisors.map((host) => (
            <li key={host.id} className="flex flex-wrap items-center gap-x-4 gap-y-1">
              <span className="font-medium">{host.name}</span>
              <span className="text-slate-500">{word('hypervisorKinds', host.kind)}</span>
              <Link href={`/hosts/${host.id}?new=template`} className="text-indigo-700 hover:underline">
                New box from a template on {host.name}
              </Link>
              <Link href={`/hosts/${host.id}#vms-heading`} className="text-indigo-700 hover:underline">
                Import a VM from {host.name}
              </Link>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

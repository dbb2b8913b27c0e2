'use client';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { useTRPC } from '../trpc';
import { Button, ErrorNote, Field, Input } from '../ui';

/**
 * Import one VM of a host as a box. The SSH address comes from the hypervisor when it can tell (leave the address
 * empty); VMs reached through a forwarded port (e.g. 127.0.0.1:2222) take it by hand. Signs in with the
 * dashboard's key (add it to the guest's authorized_keys first).
 */
export function ImportVmForm({ hostId, vm, onDone }: { hostId: string; vm: { id: string; name: string; ip?: string | null }; onDone: () => void }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const [name, setName] = useState(vm.name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63));
  const [sshUser, setSshUser] = useState('dev');
  const [address, setAddress] = useState('');
  const [port, setPort] = useState('22');
  const importVm = useMutation(
    trpc.vms.import.mutationOptions({
      onSuccess: async ({ boxId }) => {
        await queryClient.invalidateQueries({ queryKey: trpc.vms.onHost.queryKey({ hostId }) });
        onDone();
        router.push(`/boxes/${boxId}`);
      },
    }),
  );

  return (
    <form
      aria-label={`Import ${vm.name} as a box`}
      className="grid gap-3 rounded-md bg-slate-50 p-3 sm:grid-cols-5"
      onSubmit={(event) => {
        event.preventDefault();
        importVm.mutate({ hostId, vmId: vm.id, name, sshUser, address: { host: address.trim(), port: Number(port) }, auth: { method: 'dashboard-key' }, tags: [] });
      }}
    >
      <Field label="Box name">{(id) => <Input id={id} value={name} onChange={(e) => setName(e.target.value)} required />}</Field>
      <Field label="SSH user">{(id) => <Input id={id} value={sshUser} onChange={(e) => setSshUser(e.target.value)} required />}</Field>
      <Field label="SSH address" hint={vm.ip ? `empty: ${vm.ip}` : 'empty: ask the hypervisor'}>
        {(id, describedBy) => <Input id={id} aria-describedby={describedBy} value={address} placeholder={vm.ip ?? '127.0.0.1'} onChange={(e) => setAddress(e.target.value)} />}
      </Field>
      <Field label="SSH port">{(id) => <Input id={id} type="number" min={1} max={65535} value={port} onChange={(e) => setPort(e.target.value)} required />}</Field>
      <div className="flex items-end gap-2">
        <Button type="submit" disabled={importVm.isPending}>
          {importVm.isPending ? 'Importing…' : 'Import'}
        </Button>
        <Button variant="ghost" onClick={onDone}>
          Cancel
        </Button>
      </div>
      <div className="sm:col-span-5">
        <ErrorNote error={importVm.error} />
      </div>
    </form>
  );
}

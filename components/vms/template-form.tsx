'use client';
import { useMutation } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { useTRPC } from '../trpc';
import { Button, ErrorNote, Field, Input, Select } from '../ui';

/**
 * New box from a template VM: one job clones it, sets CPUs and memory, starts it, waits for SSH and fills in the
 * box (made at once, so it shows in the fleet meanwhile); Docker provisioning can follow as a second job.
 */
export function TemplateForm({ hostId, templates, initialTemplateId, onDone }: { hostId: string; templates: { id: string; name: string }[]; initialTemplateId?: string; onDone: () => void }) {
  const trpc = useTRPC();
  const router = useRouter();
  const [templateId, setTemplateId] = useState(initialTemplateId ?? templates[0]?.id ?? '');
  const [name, setName] = useState('');
  const [cpus, setCpus] = useState('');
  const [memoryMiB, setMemoryMiB] = useState('');
  const [sshUser, setSshUser] = useState('dev');
  const [address, setAddress] = useState('');
  const [port, setPort] = useState('22');
  const [provisionDocker, setProvisionDocker] = useState(false);
  const create = useMutation(trpc.vms.fromTemplate.mutationOptions({ onSuccess: ({ jobId }) => router.push(`/jobs/${jobId}`) }));

  return (
    <form
      aria-label="New box from template"
      className="grid gap-3 rounded-md bg-slate-50 p-4 sm:grid-cols-4"
      onSubmit={(event) => {
        event.preventDefault();
        create.mutate({
          hostId,
          templateId,
          name,
          cpus: cpus ? Number(cpus) : undefined,
          memoryMiB: memoryMiB ? Number(memoryMiB) : undefined,
          sshUser,
          address: { host: address.trim(), port: Number(port) },
          auth: { method: 'dashboard-key' },
          provisionDocker,
        });
      }}
    >
      <Field label="Template VM">
        {(id) => (
          <Select id={id} value={templateId} onChange={(e) => setTemplateId(e.target.value)} required>
            {templates.map((vm) => (
              <option key={vm.id} value={vm.id}>
                {vm.name}
              </option>
            ))}
          </Select>
        )}
      </Field>
      <Field label="Name (box and VM)">{(id) => <Input id={id} value={name} onChange={(e) => setName(e.target.value)} required placeholder="web-dev-2" />}</Field>
      <Field label="CPUs" hint="empty: as the template">{(id, d) => <Input id={id} aria-describedby={d} type="number" min={1} value={cpus} onChange={(e) => setCpus(e.target.value)} />}</Field>
      <Field label="Memory (MiB)" hint="empty: as the template">
        {(id, d) => <Input id={id} aria-describedby={d} type="number" min={64} value={memoryMiB} onChange={(e) => setMemoryMiB(e.target.value)} />}
      </Field>
      <Field label="SSH user">{(id) => <Input id={id} value={sshUser} onChange={(e) => setSshUser(e.target.value)} required />}</Field>
      <Field label="SSH address" hint="empty: ask the hypervisor for the guest's IP">
        {(id, d) => <Input id={id} aria-describedby={d} value={address} onChange={(e) => setAddress(e.target.value)} placeholder="127.0.0.1" />}
      </Field>
      <Field label="SSH port">{(id) => <Input id={id} type="number" min={1} max={65535} value={port} onChange={(e) => setPort(e.target.value)} required />}</Field>
      <label className="flex items-end gap-2 pb-1.5 text-sm text-slate-700">
        <input type="checkbox" checked={provisionDocker} onChange={(e) => setProvisionDocker(e.target.checked)} />
        Then provision Docker
      </label>
      <div className="flex gap-2 sm:col-span-4">
        <Button type="submit" disabled={create.isPending || !templateId}>
          {create.isPending ? 'Queueing…' : 'Create box'}
        </Button>
        <Button variant="ghost" onClick={onDone}>
          Cancel
        </Button>
      </div>
      <div className="sm:col-span-4">
        <ErrorNote error={create.error} />
      </div>
    </form>
  );
}

'use client';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useState, type FormEvent } from 'react';
import { createHostInput } from '../../lib/validation';
import { CredentialsCard, readCredentials, type AuthMethod } from '../credentials-card';
import { useTRPC } from '../trpc';
import { useFieldErrors } from '../use-field-errors';
import { Button, Card, ErrorNote, Field, Input, Select } from '../ui';

const kindLabels = [
  ['parallels', 'Parallels Desktop (prlctl)'],
  ['utm', 'UTM (utmctl)'],
  ['libvirt', 'libvirt (virsh)'],
  ['ssh', 'Plain SSH (no hypervisor)'],
] as const;

function readForm(form: HTMLFormElement, method: AuthMethod) {
  const data = new FormData(form);
  const text = (key: string) => String(data.get(key) ?? '');
  return {
    name: text('name'),
    kind: text('kind'),
    host: text('host'),
    port: text('port') || 22,
    sshUser: text('sshUser'),
    auth: readCredentials(data, method),
  };
}

/** Adds a hypervisor host. It is saved even when the first connection fails or the tool is missing. */
export function AddHostForm() {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const [method, setMethod] = useState<AuthMethod>('dashboard-key');
  const { fieldErrors, err, invalid, check, fromServer } = useFieldErrors();
  const create = useMutation(
    trpc.hosts.create.mutationOptions({
      onSuccess: async (host) => {
        await queryClient.invalidateQueries({ queryKey: trpc.hosts.list.queryKey() });
        router.push(`/hosts/${host.id}`);
      },
      onError: fromServer,
    }),
  );

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const input = check(createHostInput, readForm(event.currentTarget, method));
    if (input) create.mutate(input);
  }

  return (
    <form onSubmit={submit} noValidate className="grid gap-6 lg:grid-cols-3" aria-label="Add host">
      <div className="space-y-6 lg:col-span-2">
        <Card title="Address">
          <div className="grid gap-4 sm:grid-cols-2">
            <Field label="Name" hint="Lowercase, digits and hyphens." error={err('name')}>
              {(id, d) => <Input id={id} name="name" required maxLength={63} aria-invalid={invalid('name')} aria-describedby={d} placeholder="mac-mini-1" />}
            </Field>
            <Field label="Hypervisor" error={err('kind')}>
              {(id, d) => (
                <Select id={id} name="kind" defaultValue="parallels" aria-invalid={invalid('kind')} aria-describedby={d}>
                  {kindLabels.map(([value, label]) => (
                    <option key={value} value={value}>
                      {label}
                    </option>
                  ))}
                </Select>
              )}
            </Field>
            <Field label="Host" error={err('host')}>
              {(id, d) => <Input id={id} name="host" required aria-invalid={invalid('host')} aria-describedby={d} placeholder="203.0.113.7 or mac.example.com" />}
            </Field>
            <Field label="SSH port" error={err('port')}>
              {(id, d) => <Input id={id} name="port" type="number" min={1} max={65535} defaultValue={22} aria-invalid={invalid('port')} aria-describedby={d} />}
            </Field>
            <Field label="SSH user" error={err('sshUser')}>
              {(id, d) => <Input id={id} name="sshUser" required aria-invalid={invalid('sshUser')} aria-describedby={d} placeholder="admin" />}
            </Field>
          </div>
        </Card>
      </div>

      <div className="space-y-6">
        <CredentialsCard method={method} onMethodChange={setMethod} fieldErrors={fieldErrors} machine="host" />
        <ErrorNote error={create.error} />
        <Button type="submit" className="w-full" disabled={create.isPending}>
          {create.isPending ? 'Adding and connecting…' : 'Add host'}
        </Button>
      </div>
    </form>
  );
}

'use client';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useState, type FormEvent } from 'react';
import { createBoxInput } from '../lib/validation';
import { CredentialsCard, readCredentials, type AuthMethod } from './credentials-card';
import { useTRPC } from './trpc';
import { useFieldErrors } from './use-field-errors';
import { Button, Card, ErrorNote, Field, Input, Select, Textarea } from './ui';

function readForm(form: HTMLFormElement, method: AuthMethod) {
  const data = new FormData(form);
  const text = (key: string) => String(data.get(key) ?? '');
  return {
    name: text('name'),
    host: text('host'),
    port: text('port') || 22,
    sshUser: text('sshUser'),
    ownerId: text('ownerId') || undefined,
    memberIds: data.getAll('memberIds').map(String),
    tags: text('tags').split(/[\s,]+/).filter(Boolean),
    notes: text('notes'),
    auth: readCredentials(data, method),
  };
}

/** Adds a box. The box is saved even when the first connection fails; its status then says why. */
export function AddBoxForm() {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const [method, setMethod] = useState<AuthMethod>('dashboard-key');
  const { fieldErrors, err, invalid, check, fromServer } = useFieldErrors();
  const users = useQuery(trpc.users.list.queryOptions());
  const me = useQuery(trpc.users.me.queryOptions());
  const create = useMutation(
    trpc.boxes.create.mutationOptions({
      onSuccess: async (box) => {
        await queryClient.invalidateQueries({ queryKey: trpc.boxes.list.queryKey() });
        router.push(`/boxes/${box.id}`);
      },
      onError: fromServer,
    }),
  );

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const input = check(createBoxInput, readForm(event.currentTarget, method));
    if (input) create.mutate(input);
  }

  return (
    <form onSubmit={submit} noValidate className="grid gap-6 lg:grid-cols-3" aria-label="Add box">
      <div className="space-y-6 lg:col-span-2">
        <Card title="Address">
          <div className="grid gap-4 sm:grid-cols-2">
            <Field label="Name" hint="Lowercase, digits and hyphens; becomes the ssh Host alias and docker context." error={err('name')}>
              {(id, d) => <Input id={id} name="name" required maxLength={63} aria-invalid={invalid('name')} aria-describedby={d} placeholder="web-dev-1" />}
            </Field>
            <Field label="Host" error={err('host')}>
              {(id, d) => <Input id={id} name="host" required aria-invalid={invalid('host')} aria-describedby={d} placeholder="203.0.113.7 or box.example.com" />}
            </Field>
            <Field label="SSH port" error={err('port')}>
              {(id, d) => <Input id={id} name="port" type="number" min={1} max={65535} defaultValue={22} aria-invalid={invalid('port')} aria-describedby={d} />}
            </Field>
            <Field label="SSH user" error={err('sshUser')}>
              {(id, d) => <Input id={id} name="sshUser" required aria-invalid={invalid('sshUser')} aria-describedby={d} placeholder="dev" />}
            </Field>
          </div>
        </Card>

        <CredentialsCard method={method} onMethodChange={setMethod} fieldErrors={fieldErrors} machine="box" />
      </div>

      <div className="space-y-6">
        <Card title="People and notes">
          <div className="space-y-4">
            <Field label="Owner" error={err('ownerId')}>
              {(id) => (
                <Select id={id} name="ownerId" defaultValue={me.data?.id}>
                  {users.data?.map((u) => (
                    <option key={u.id} value={u.id}>
                      {u.email}
                    </option>
                  ))}
                </Select>
              )}
            </Field>
            <fieldset>
              <legend className="text-sm font-medium text-slate-700">Also shared with</legend>
              <div className="mt-1 max-h-40 space-y-1 overflow-y-auto">
                {users.data?.map((u) => (
                  <label key={u.id} className="flex items-center gap-2 text-sm">
                    <input type="checkbox" name="memberIds" value={u.id} />
                    {u.email}
                  </label>
                ))}
              </div>
            </fieldset>
            <Field label="Tags" hint="Separated by spaces or commas." error={err('tags') ?? Object.entries(fieldErrors).find(([k]) => k.startsWith('tags.'))?.[1]}>
              {(id, d) => <Input id={id} name="tags" aria-describedby={d} placeholder="backend eu" />}
            </Field>
            <Field label="Notes" error={err('notes')}>
              {(id, d) => <Textarea id={id} name="notes" rows={3} maxLength={2000} aria-describedby={d} className="font-sans" />}
            </Field>
          </div>
        </Card>
        <ErrorNote error={create.error} />
        <Button type="submit" className="w-full" disabled={create.isPending}>
          {create.isPending ? 'Adding and connecting…' : 'Add box'}
        </Button>
      </div>
    </form>
  );
}

'use client';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { authClient } from '../../../components/auth-client';
import { PublicSharingSetting } from '../../../components/previews/public-sharing-setting';
import { useTRPC } from '../../../components/trpc';
import { Button, Card, ErrorNote, Field, Input, PageHeader, Select } from '../../../components/ui';
import { formatWhen } from '../../../lib/format';

function ChangeOwnPassword() {
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    setError(null);
    setMessage(null);
    const result = await authClient.changePassword({
      currentPassword: String(data.get('currentPassword')),
      newPassword: String(data.get('newPassword')),
      revokeOtherSessions: true,
    });
    if (result.error) setError(result.error.message ?? 'The password was not changed.');
    else {
      setMessage('Password changed; your other sessions were signed out.');
      form.reset();
    }
  }
  return (
    <Card title="Your password">
      <form onSubmit={submit} className="space-y-3" aria-label="Change your password">
        <Field label="Current password">{(id) => <Input id={id} name="currentPassword" type="password" autoComplete="current-password" required />}</Field>
        <Field label="New password" hint="At least 10 characters.">
          {(id, d) => <Input id={id} name="newPassword" type="password" autoComplete="new-password" minLength={10} required aria-describedby={d} />}
        </Field>
        <ErrorNote error={error} />
        {message && <p role="status" className="text-sm text-emerald-700">{message}</p>}
        <Button type="submit">Change password</Button>
      </form>
    </Card>
  );
}

export default function UsersPage() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const users = useQuery(trpc.users.list.queryOptions());
  const me = useQuery(trpc.users.me.queryOptions());
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.users.list.queryKey() });
  const create = useMutation(trpc.users.create.mutationOptions({ onSuccess: invalidate }));
  const setRole = useMutation(trpc.users.setRole.mutationOptions({ onSettled: invalidate }));
  const remove = useMutation(trpc.users.delete.mutationOptions({ onSettled: invalidate }));

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    create.mutate(
      {
        email: String(data.get('email')),
        name: String(data.get('name')),
        password: String(data.get('password')),
        role: data.get('role') === 'admin' ? 'admin' : 'developer',
      },
      { onSuccess: () => form.reset() },
    );
  }

  return (
    <>
      <PageHeader title="Users" />
      <div className="grid gap-6 lg:grid-cols-3">
        <div className="lg:col-span-2">
          <Card>
            <ErrorNote error={users.error ?? setRole.error ?? remove.error} />
            <table className="min-w-full divide-y divide-slate-200 text-sm" aria-label="Users">
              <thead className="text-left text-xs uppercase tracking-wide text-slate-500">
                <tr>
                  <th className="py-2">User</th>
                  <th className="py-2">Role</th>
                  <th className="py-2">Since</th>
                  <th className="py-2" />
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {users.data?.map((u) => (
                  <tr key={u.id} data-user={u.email}>
                    <td className="py-2">
                      <div className="font-medium">{u.name}</div>
                      <div className="text-xs text-slate-500">{u.email}</div>
                    </td>
                    <td className="py-2">
                      <Select
                        aria-label={`Role of ${u.email}`}
                        value={u.role}
                        onChange={(e) => setRole.mutate({ id: u.id, role: e.target.value === 'admin' ? 'admin' : 'developer' })}
                        className="max-w-36"
                      >
                        <option value="admin">admin</option>
                        <option value="developer">developer</option>
                      </Select>
                    </td>
                    <td className="py-2 text-slate-600">{formatWhen(u.createdAt)}</td>
                    <td className="py-2 text-right">
                      {u.id !== me.data?.id && (
                        <Button variant="ghost" onClick={() => window.confirm(`Delete ${u.email}?`) && remove.mutate({ id: u.id })}>
                          Delete
                        </Button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Card>
        </div>
        <div className="space-y-6">
          <Card title="Add a user">
            <form onSubmit={submit} className="space-y-3" aria-label="Add a user">
              <Field label="Name">{(id) => <Input id={id} name="name" required maxLength={100} />}</Field>
              <Field label="Email">{(id) => <Input id={id} name="email" type="email" required />}</Field>
              <Field label="Initial password" hint="At least 10 characters; tell it to them privately.">
                {(id, d) => <Input id={id} name="password" type="password" autoComplete="new-password" minLength={10} required aria-describedby={d} />}
              </Field>
              <Field label="Role">
                {(id) => (
                  <Select id={id} name="role" defaultValue="developer">
                    <option value="developer">developer: sees the boxes they own or were given</option>
                    <option value="admin">admin: team lead, manages everything</option>
                  </Select>
                )}
              </Field>
              <ErrorNote error={create.error} />
              <Button type="submit" disabled={create.isPending}>
                Add user
              </Button>
            </form>
          </Card>
          <PublicSharingSetting />
          <ChangeOwnPassword />
        </div>
      </div>
    </>
  );
}

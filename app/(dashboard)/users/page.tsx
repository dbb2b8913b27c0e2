'use client';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ConfirmDialog } from '../../../components/confirm-dialog';
import { failed, succeeded } from '../../../components/toasts';
import { PublicSharingSetting } from '../../../components/previews/public-sharing-setting';
import { useTRPC } from '../../../components/trpc';
import { Button, Card, ErrorNote, Field, Input, PageHeader, Select } from '../../../components/ui';
import { formatWhen } from '../../../lib/format';

/** Password sign-in on or off, once single sign-on is configured (the recovery script turns it back on). */
function PasswordSignIn() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const options = useQuery(trpc.signIn.options.queryOptions());
  const set = useMutation(trpc.signIn.setPassword.mutationOptions({ onSettled: () => queryClient.invalidateQueries({ queryKey: trpc.signIn.options.queryKey() }) }));
  if (!options.data?.provider) return null;
  const enabled = options.data.password;
  return (
    <Card title="Password sign-in">
      <p className="mb-3 text-sm text-slate-600">
        {enabled
          ? `On: people may sign in with a password as well as with ${options.data.provider.name}.`
          : `Off: everyone signs in with ${options.data.provider.name}. On the server, npx tsx scripts/password-sign-in-on.ts turns it back on.`}
      </p>
      <ErrorNote error={set.error} />
      <Button variant={enabled ? 'ghost' : 'primary'} disabled={set.isPending} onClick={() => set.mutate({ enabled: !enabled })}>
        {enabled ? 'Turn password sign-in off' : 'Turn password sign-in on'}
      </Button>
    </Card>
  );
}

export default function UsersPage() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const users = useQuery(trpc.users.list.queryOptions());
  const me = useQuery(trpc.users.me.queryOptions());
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.users.list.queryKey() });
  const create = useMutation(trpc.users.create.mutationOptions({ onSuccess: (user) => void invalidate().then(() => succeeded(`${user.email} added.`)), onError: failed }));
  const setRole = useMutation(trpc.users.setRole.mutationOptions({ onSuccess: (user) => succeeded(`${user.email} is now ${user.role}.`), onError: failed, onSettled: invalidate }));
  const remove = useMutation(trpc.users.delete.mutationOptions({ onSuccess: () => succeeded('User deleted.'), onError: failed, onSettled: invalidate }));
  const requireNew = useMutation(
    trpc.users.requireNewPassword.mutationOptions({ onSuccess: (user) => succeeded(`${user.email} chooses a new password at the next sign-in.`), onError: failed, onSettled: invalidate }),
  );
  /** A role change waiting for its confirmation. */
  const [roleChange, setRoleChange] = useState<{ id: string; email: string; role: 'admin' | 'developer' } | null>(null);
  const endAll = useMutation(
    trpc.users.endAllSessions.mutationOptions({ onSuccess: (ended) => succeeded(`Ended ${ended.sessions} session(s) and revoked ${ended.tokens} API token(s).`), onError: failed }),
  );

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
        requireNewPassword: data.get('requireNewPassword') === 'on',
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
            <ErrorNote error={users.error ?? setRole.error ?? remove.error ?? requireNew.error ?? endAll.error} />
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
                        onChange={(e) => setRoleChange({ id: u.id, email: u.email, role: e.target.value === 'admin' ? 'admin' : 'developer' })}
                        className="max-w-36"
                      >
                        <option value="admin">admin</option>
                        <option value="developer">developer</option>
                      </Select>
                    </td>
                    <td className="py-2 text-slate-600">{formatWhen(u.createdAt)}</td>
                    <td className="py-2">
                      <div className="flex flex-wrap items-center justify-end gap-1">
                        <ConfirmDialog
                          trigger={<Button variant="ghost">End sessions</Button>}
                          title={`End every session and API token of ${u.email}?`}
                          description="Their terminals and tunnels close; they sign in again, and their CLI logins stop working."
                          confirmLabel="End sessions"
                          onConfirm={() => endAll.mutate({ id: u.id })}
                        />
                        {u.mustChangePassword ? (
                          <span className="text-xs text-slate-500">new password pending</span>
                        ) : (
                          <Button variant="ghost" onClick={() => requireNew.mutate({ id: u.id })} disabled={requireNew.isPending}>
                            Require new password
                          </Button>
                        )}
                        {u.id !== me.data?.id && (
                          <ConfirmDialog
                            trigger={<Button variant="ghost">Delete</Button>}
                            title={`Delete ${u.email}?`}
                            description="Their account, sessions, SSH keys and API tokens are removed; boxes they were given lose them as a member."
                            confirmLabel="Delete user"
                            onConfirm={() => remove.mutate({ id: u.id })}
                          />
                        )}
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <ConfirmDialog
              open={roleChange !== null}
              onOpenChange={(open) => !open && setRoleChange(null)}
              title={roleChange ? `Make ${roleChange.email} ${roleChange.role === 'admin' ? 'an admin' : 'a developer'}?` : ''}
              description={
                roleChange?.role === 'admin'
                  ? 'Admins manage every box, host and user, and read the audit log.'
                  : 'Developers see only the boxes they own or were given; this user loses every other box.'
              }
              confirmLabel="Change role"
              destructive={roleChange?.role !== 'admin'}
              onConfirm={() => roleChange && setRole.mutate({ id: roleChange.id, role: roleChange.role })}
            />
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
              <label className="flex items-center gap-2 text-sm text-slate-700">
                <input type="checkbox" name="requireNewPassword" defaultChecked className="rounded border-slate-300" />
                They choose a new password at their first sign-in
              </label>
              <ErrorNote error={create.error} />
              <Button type="submit" disabled={create.isPending}>
                Add user
              </Button>
            </form>
          </Card>
          <PasswordSignIn />
          <PublicSharingSetting />
        </div>
      </div>
    </>
  );
}

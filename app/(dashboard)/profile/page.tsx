'use client';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ChangeOwnPassword } from '../../../components/change-password';
import { ConfirmDialog } from '../../../components/confirm-dialog';
import { failed, succeeded } from '../../../components/toasts';
import { useTRPC } from '../../../components/trpc';
import { Button, Card, CopyText, ErrorNote, Field, Input, PageHeader, Textarea } from '../../../components/ui';
import { formatWhen } from '../../../lib/format';

function SshKeys() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const keys = useQuery(trpc.profile.keys.list.queryOptions());
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.profile.keys.list.queryKey() });
  const add = useMutation(trpc.profile.keys.add.mutationOptions({ onSuccess: () => void invalidate().then(() => succeeded('Key added.')), onError: failed }));
  const remove = useMutation(trpc.profile.keys.remove.mutationOptions({ onSuccess: () => succeeded('Key removed.'), onError: failed, onSettled: invalidate }));

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    add.mutate({ name: String(data.get('name')), publicKey: String(data.get('publicKey')) }, { onSuccess: () => form.reset() });
  }

  return (
    <Card title="Your SSH keys">
      <p className="mb-4 text-sm text-slate-600">
        Provisioning installs these keys for the SSH user of every box you own or share, so you can log in with{' '}
        <code className="rounded bg-slate-100 px-1">ssh</code>, docker contexts and your editor. Changes reach a box the next time an admin provisions it.
      </p>
      <ErrorNote error={keys.error ?? remove.error} />
      {keys.data?.length ? (
        <ul className="mb-4 divide-y divide-slate-100 text-sm" aria-label="Your SSH keys">
          {keys.data.map((key) => (
            <li key={key.id} className="flex items-start justify-between gap-3 py-2" data-key={key.name}>
              <div className="min-w-0">
                <div className="font-medium">{key.name}</div>
                <div className="break-all font-mono text-xs text-slate-500">
                  {key.publicKey.split(' ')[0]} {key.fingerprint}
                </div>
                <div className="text-xs text-slate-500">added {formatWhen(key.createdAt)}</div>
              </div>
              <ConfirmDialog
                trigger={
                  <Button variant="ghost" disabled={remove.isPending}>
                    Remove
                  </Button>
                }
                title={`Remove the key "${key.name}"?`}
                description="Boxes keep it until they are provisioned again."
                confirmLabel="Remove key"
                onConfirm={() => remove.mutate({ id: key.id })}
              />
            </li>
          ))}
        </ul>
      ) : (
        keys.data && <p className="mb-4 text-sm text-slate-500">No keys yet.</p>
      )}
      <form onSubmit={submit} className="space-y-3" aria-label="Add an SSH key">
        <Field label="Name" hint='Where the key lives, e.g. "laptop".'>
          {(id, d) => <Input id={id} name="name" required maxLength={100} aria-describedby={d} />}
        </Field>
        <Field
          label="Public key"
          hint={
            <>
              The content of your <code>.pub</code> file, e.g. <code>cat ~/.ssh/id_ed25519.pub</code>. Never the private key. No key yet?{' '}
              <code>ssh-keygen -t ed25519</code>
            </>
          }
        >
          {(id, d) => <Textarea id={id} name="publicKey" rows={3} required placeholder="ssh-ed25519 AAAA… you@laptop" aria-describedby={d} spellCheck={false} />}
        </Field>
        <ErrorNote error={add.error} />
        <Button type="submit" disabled={add.isPending}>
          Add key
        </Button>
      </form>
    </Card>
  );
}

function ApiTokens() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const tokens = useQuery(trpc.profile.tokens.list.queryOptions());
  const invalidate = () => queryClient.invalidateQueries({ queryKey: trpc.profile.tokens.list.queryKey() });
  const create = useMutation(trpc.profile.tokens.create.mutationOptions({ onSuccess: invalidate, onError: failed }));
  const revoke = useMutation(trpc.profile.tokens.revoke.mutationOptions({ onSuccess: () => succeeded('Token revoked.'), onError: failed, onSettled: invalidate }));
  // The new token lives only in this component's state: it is shown once and gone on reload.
  const [created, setCreated] = useState<{ token: string; cliCommand: string; name: string } | null>(null);
  const cliInstall = useQuery(trpc.connect.cliInstall.queryOptions());

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = event.currentTarget;
    const name = String(new FormData(form).get('name'));
    create.mutate(
      { name },
      {
        onSuccess: (result) => {
          setCreated({ token: result.token, cliCommand: result.cliCommand, name: result.apiToken.name });
          form.reset();
        },
      },
    );
  }

  return (
    <Card title="API tokens">
      <p className="mb-4 text-sm text-slate-600">
        For the <code className="rounded bg-slate-100 px-1">boxyard</code> CLI on your laptop: it writes an ssh config entry and a docker context for
        every box you can reach. A token acts as you; revoke it when a laptop is gone.
      </p>
      {cliInstall.data && (
        <div className="mb-4 space-y-1">
          <p className="text-sm text-slate-600">
            Install the CLI on your laptop (it needs Node.js 20 or newer; the script checks the download&apos;s SHA-256 and installs into
            ~/.local/bin):
          </p>
          <CopyText text={cliInstall.data.command} label="Install the boxyard CLI" />
        </div>
      )}
      {created && (
        <div role="status" className="mb-4 space-y-2 rounded-md bg-emerald-50 p-3 ring-1 ring-emerald-200">
          <p className="text-sm font-medium text-emerald-900">
            Token &quot;{created.name}&quot; made. Copy it now: it is not shown again.
          </p>
          <CopyText text={created.token} label="New API token" />
          <p className="text-sm text-emerald-900">Then, on your laptop, with the CLI installed as above:</p>
          <CopyText text={created.cliCommand} label="CLI command with the new token" />
          <Button variant="secondary" onClick={() => setCreated(null)}>
            Done
          </Button>
        </div>
      )}
      <ErrorNote error={tokens.error ?? revoke.error} />
      {tokens.data?.length ? (
        <table className="mb-4 min-w-full divide-y divide-slate-200 text-sm" aria-label="API tokens">
          <thead className="text-left text-xs uppercase tracking-wide text-slate-500">
            <tr>
              <th className="py-2">Name</th>
              <th className="py-2">Token</th>
              <th className="py-2">Created</th>
              <th className="py-2">Last used</th>
              <th className="py-2" />
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {tokens.data.map((token) => (
              <tr key={token.id} data-token={token.name}>
                <td className="py-2 font-medium">{token.name}</td>
                <td className="py-2 font-mono text-xs">{token.prefix}…</td>
                <td className="py-2 text-slate-600">{formatWhen(token.createdAt)}</td>
                <td className="py-2 text-slate-600">{formatWhen(token.lastUsedAt)}</td>
                <td className="py-2 text-right">
                  {token.revokedAt ? (
                    <span className="text-xs text-slate-500">revoked {formatWhen(token.revokedAt)}</span>
                  ) : (
                    <ConfirmDialog
                      trigger={
                        <Button variant="ghost" disabled={revoke.isPending}>
                          Revoke
                        </Button>
                      }
                      title={`Revoke the token "${token.name}"?`}
                      description="The CLI using it stops working at once."
                      confirmLabel="Revoke token"
                      onConfirm={() => revoke.mutate({ id: token.id })}
                    />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        tokens.data && <p className="mb-4 text-sm text-slate-500">No tokens yet.</p>
      )}
      <form onSubmit={submit} className="flex items-end gap-2" aria-label="Make an API token">
        <div className="flex-1">
          <Field label="Token name">{(id) => <Input id={id} name="name" required maxLength={100} placeholder="work laptop" />}</Field>
        </div>
        <Button type="submit" disabled={create.isPending}>
          Make token
        </Button>
      </form>
      <ErrorNote error={create.error} />
    </Card>
  );
}

/** The caller's browser sessions: ending one signs that browser out and closes the terminals and tunnels it opened. */
function BrowserSessions() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const sessions = useQuery(trpc.profile.sessions.list.queryOptions());
  const end = useMutation(trpc.profile.sessions.end.mutationOptions({ onSettled: () => queryClient.invalidateQueries({ queryKey: trpc.profile.sessions.list.queryKey() }) }));
  return (
    <Card title="Browser sessions">
      <ErrorNote error={sessions.error ?? end.error} />
      {sessions.data?.length ? (
        <table className="min-w-full divide-y divide-slate-200 text-sm" aria-label="Browser sessions">
          <thead className="text-left text-xs uppercase tracking-wide text-slate-500">
            <tr>
              <th className="py-2">Device</th>
              <th className="py-2">Address</th>
              <th className="py-2">Signed in</th>
              <th className="py-2">Last seen</th>
              <th className="py-2" />
            </tr>
          </thead>
          <tbody className="divide-y divide-slate-100">
            {sessions.data.map((session) => (
              <tr key={session.id} data-session={session.id}>
                <td className="py-2 font-medium">{session.device}</td>
                <td className="py-2 font-mono text-xs">{session.address ?? '—'}</td>
                <td className="py-2 text-slate-600">{formatWhen(session.signedInAt)}</td>
                <td className="py-2 text-slate-600">{formatWhen(session.lastSeenAt)}</td>
                <td className="py-2 text-right">
                  <ConfirmDialog
                    trigger={<Button variant="ghost" disabled={end.isPending}>End</Button>}
                    title={`End the session on ${session.device}?`}
                    description="Its terminals and tunnels close, and that browser signs in again."
                    confirmLabel="End session"
                    onConfirm={() => end.mutate({ id: session.id })}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        sessions.data && <p className="text-sm text-slate-500">No sessions.</p>
      )}
    </Card>
  );
}

export default function ProfilePage() {
  const trpc = useTRPC();
  const me = useQuery(trpc.users.me.queryOptions());
  return (
    <>
      <PageHeader title="Profile">
        {me.data && (
          <span className="text-sm text-slate-600">
            {me.data.name} · {me.data.email}
          </span>
        )}
      </PageHeader>
      <div className="grid gap-6 lg:grid-cols-2">
        <SshKeys />
        <ApiTokens />
        <ChangeOwnPassword />
        <BrowserSessions />
      </div>
    </>
  );
}

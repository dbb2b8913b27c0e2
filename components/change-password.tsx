'use client';
import { useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { succeeded } from './toasts';
import { authClient } from './auth-client';
import { useTRPC } from './trpc';
import { Button, Card, ErrorNote, Field, Input } from './ui';

/**
 * The signed-in user's own password, through better-auth's changePassword (it checks the current one and signs the
 * other sessions out). Changing it also lifts an admin's "choose a new password" requirement (server side).
 */
export function ChangeOwnPassword({ title = 'Your password', onChanged }: { title?: string; onChanged?: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
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
    if (result.error) {
      setError(result.error.message ?? 'The password was not changed.');
      return;
    }
    setMessage('Password changed; your other sessions were signed out.');
    succeeded('Password changed.');
    form.reset();
    await queryClient.invalidateQueries({ queryKey: trpc.users.me.queryKey() });
    onChanged?.();
  }
  return (
    <Card title={title}>
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

'use client';
import { useRouter, useSearchParams } from 'next/navigation';
import { Suspense, useState, type FormEvent } from 'react';
import { authClient } from '../../components/auth-client';
import { OriginWarning } from '../../components/origin-warning';
import { Button, ErrorNote, Field, Input } from '../../components/ui';

function LoginForm() {
  const router = useRouter();
  const params = useSearchParams();
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setPending(true);
    setError(null);
    const result = await authClient.signIn.email({ email: String(form.get('email')), password: String(form.get('password')) });
    setPending(false);
    if (result.error) {
      setError(result.error.status === 401 ? 'Wrong email or password.' : (result.error.message ?? 'Sign-in failed; try again.'));
      return;
    }
    const next = params.get('next');
    // Only same-site paths: never bounce a fresh session to another origin.
    router.replace(next && next.startsWith('/') && !next.startsWith('//') ? next : '/');
  }

  return (
    <form onSubmit={submit} className="space-y-4" aria-label="Sign in">
      <Field label="Email">{(id) => <Input id={id} name="email" type="email" autoComplete="username" required autoFocus />}</Field>
      <Field label="Password">{(id) => <Input id={id} name="password" type="password" autoComplete="current-password" required />}</Field>
      {error && <ErrorNote error={error} />}
      <Button type="submit" className="w-full" disabled={pending}>
        {pending ? 'Signing in…' : 'Sign in'}
      </Button>
    </form>
  );
}

export default function LoginPage() {
  return (
    <main className="flex min-h-screen flex-col items-center justify-center gap-4 px-4">
      <OriginWarning />
      <div className="w-full max-w-sm rounded-xl bg-white p-8 shadow-sm ring-1 ring-slate-200">
        <div className="mb-6 flex items-center gap-2">
          <img src="/icon.svg" alt="" className="size-8" />
          <h1 className="text-lg font-semibold">Sign in to Boxyard</h1>
        </div>
        <Suspense>
          <LoginForm />
        </Suspense>
      </div>
    </main>
  );
}

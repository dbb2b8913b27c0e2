'use client';
import { useQuery } from '@tanstack/react-query';
import { useRouter, useSearchParams } from 'next/navigation';
import { Suspense, useState, type FormEvent } from 'react';
import { signInErrorSentence } from '../../lib/sign-in-errors';
import { authClient } from '../../components/auth-client';
import { OriginWarning } from '../../components/origin-warning';
import { useTRPC } from '../../components/trpc';
import { Button, ErrorNote, Field, Input } from '../../components/ui';

/** Only same-site paths: never bounce a fresh session to another origin. */
function nextPath(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

function LoginForm() {
  const router = useRouter();
  const params = useSearchParams();
  const trpc = useTRPC();
  const options = useQuery(trpc.signIn.options.queryOptions());
  // A provider sign-in that failed comes back here as ?error=<code> (better-auth's redirect): say it in words.
  const providerError = params.get('error');
  const [error, setError] = useState<string | null>(providerError ? signInErrorSentence(providerError) : null);
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
    router.replace(nextPath(params.get('next')));
  }

  async function signInWithProvider() {
    setPending(true);
    setError(null);
    const result = await authClient.signIn.social({ provider: 'oidc', callbackURL: nextPath(params.get('next')), errorCallbackURL: '/login' });
    // On success the browser is on its way to the provider; a refusal (provider unreachable, misconfigured) is said here.
    if (result.error) {
      setPending(false);
      setError(result.error.message ?? 'Single sign-on failed; try again.');
    }
  }

  const provider = options.data?.provider;
  const password = options.data?.password ?? true;
  return (
    <div className="space-y-4">
      {provider && (
        <Button type="button" className="w-full" disabled={pending} onClick={signInWithProvider}>
          Sign in with {provider.name}
        </Button>
      )}
      {provider && password && <p className="text-center text-xs text-slate-500">or with your email and password</p>}
      {password && (
        <form onSubmit={submit} className="space-y-4" aria-label="Sign in">
          <Field label="Email">{(id) => <Input id={id} name="email" type="email" autoComplete="username" required autoFocus={!provider} />}</Field>
          <Field label="Password">{(id) => <Input id={id} name="password" type="password" autoComplete="current-password" required />}</Field>
          <Button type="submit" className="w-full" disabled={pending}>
            {pending ? 'Signing in…' : 'Sign in'}
          </Button>
        </form>
      )}
      {error && <ErrorNote error={error} />}
    </div>
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

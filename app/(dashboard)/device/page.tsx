'use client';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useRouter, useSearchParams } from 'next/navigation';
import { Suspense, type FormEvent } from 'react';
import { useTRPC } from '../../../components/trpc';
import { Button, Card, ErrorNote, Field, Input, PageHeader } from '../../../components/ui';
import { displayUserCode, normalizeUserCode } from '../../../lib/cli-login';

/**
 * Where `boxyard login` sends the user (verification_uri_complete): the signed-in user sees the code and the machine
 * and approves or denies the CLI's sign-in. It speaks to better-auth's deviceAuthorization endpoints directly: opening
 * the code claims it for this user (only they may then decide it), approving lets the CLI redeem it for its own API
 * token (lib/cli-login.ts). Not signed in, proxy.ts sends the visitor to the sign-in page and back here.
 */

const DEVICE_API = '/api/auth/device';

interface DeviceRequest {
  status: 'pending' | 'approved' | 'denied';
  /** Present only when this user may decide the code. */
  client_id?: string;
  machine_name?: string | null;
}

/** The sentence a refused code earns, from the plugin's error code. */
function refusal(code: string, body: { error?: string } | null): Error {
  const shown = displayUserCode(code);
  if (body?.error === 'expired_token') return new Error(`The code ${shown} expired: run \`boxyard login\` again for a new one.`);
  if (body?.error === 'invalid_request') return new Error(`No sign-in is waiting for the code ${shown}: check it against the one your terminal shows.`);
  return new Error(`The dashboard could not check the code ${shown}; try again.`);
}

async function callDevice(code: string, init?: RequestInit & { path?: string }): Promise<unknown> {
  const response = await fetch(init?.path ?? `${DEVICE_API}?user_code=${encodeURIComponent(code)}`, { ...init, headers: { 'content-type': 'application/json' } });
  const body = (await response.json().catch(() => null)) as { error?: string } | null;
  if (!response.ok) throw refusal(code, body);
  return body;
}

function CodeForm() {
  const router = useRouter();
  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const code = normalizeUserCode(String(new FormData(event.currentTarget).get('code')));
    if (code) router.replace(`/device?user_code=${code}`);
  }
  return (
    <form onSubmit={submit} className="space-y-3" aria-label="Enter the code">
      <Field label="Code" hint="The code `boxyard login` shows in your terminal, e.g. ABCD-EFGH.">
        {(id, d) => <Input id={id} name="code" required autoFocus autoComplete="off" spellCheck={false} aria-describedby={d} />}
      </Field>
      <Button type="submit">Continue</Button>
    </form>
  );
}

function Approval({ code }: { code: string }) {
  const trpc = useTRPC();
  const me = useQuery(trpc.users.me.queryOptions());
  const request = useQuery({ queryKey: ['device-authorization', code], queryFn: async () => (await callDevice(code)) as DeviceRequest, retry: false, refetchOnWindowFocus: false });
  const decide = useMutation({
    mutationFn: (decision: 'approve' | 'deny') => callDevice(code, { path: `${DEVICE_API}/${decision}`, method: 'POST', body: JSON.stringify({ userCode: code }) }),
  });
  const shown = displayUserCode(code);

  if (request.error) return <ErrorNote error={request.error} />;
  if (!request.data || !me.data) return <p className="text-sm text-slate-500">Checking the code {shown}…</p>;
  const machine = request.data.machine_name ?? 'an unnamed machine';

  if (decide.isSuccess) {
    return (
      <p role="status" className="text-sm">
        {decide.variables === 'approve'
          ? `Approved: the CLI on ${machine} is signed in as ${me.data.email}. You can close this tab.`
          : `Denied: the CLI on ${machine} was not signed in.`}
      </p>
    );
  }
  if (request.data.status === 'approved') return <p role="status" className="text-sm">This sign-in was approved already: the CLI is signed in.</p>;
  if (request.data.status === 'denied') return <p role="status" className="text-sm">This sign-in was denied: the CLI was not signed in.</p>;
  if (!request.data.client_id) return <ErrorNote error={`Another account opened the code ${shown} first: run \`boxyard login\` again for a new one.`} />;

  return (
    <div className="space-y-4" aria-label="Sign-in request">
      <p className="text-sm">
        The Boxyard CLI on <strong data-testid="device-machine">{machine}</strong> asks to sign in as you ({me.data.email}). Approve only if your
        terminal shows this code:
      </p>
      <p className="font-mono text-2xl font-semibold tracking-widest" data-testid="device-code">
        {shown}
      </p>
      <p className="text-sm text-slate-600">
        The CLI gets its own API token, named &quot;boxyard CLI on {machine}&quot;; your profile page lists it and can revoke it.
      </p>
      <ErrorNote error={decide.error} />
      <div className="flex gap-2">
        <Button onClick={() => decide.mutate('approve')} disabled={decide.isPending}>
          Approve
        </Button>
        <Button variant="secondary" onClick={() => decide.mutate('deny')} disabled={decide.isPending}>
          Deny
        </Button>
      </div>
    </div>
  );
}

function DevicePageBody() {
  const code = normalizeUserCode(useSearchParams().get('user_code') ?? '');
  return <Card title="Sign in the Boxyard CLI">{code ? <Approval code={code} /> : <CodeForm />}</Card>;
}

export default function DevicePage() {
  return (
    <>
      <PageHeader title="CLI sign-in" />
      <div className="max-w-xl">
        <Suspense>
          <DevicePageBody />
        </Suspense>
      </div>
    </>
  );
}

import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import superjson from 'superjson';
import { MAX_BATCH_CALLS } from '../../../lib/trpc-path';
import type { AppRouter } from '../../../server/trpc/router';

/** A tRPC client signed in as one user, the way the browser is: through better-auth's cookie, from the dashboard's Origin. */
export async function signedInApi(baseURL: string, credentials: { email: string; password: string }) {
  const response = await fetch(`${baseURL}/api/auth/sign-in/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: baseURL },
    body: JSON.stringify(credentials),
  });
  if (!response.ok) throw new Error(`sign-in as ${credentials.email} failed: ${response.status} ${await response.text()}`);
  const cookie = response.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const client = createTRPCClient<AppRouter>({
    links: [httpBatchLink({ url: `${baseURL}/api/trpc`, transformer: superjson, headers: () => ({ cookie, origin: baseURL }), maxItems: MAX_BATCH_CALLS })],
  });
  return { client, cookie };
}
export type Api = Awaited<ReturnType<typeof signedInApi>>['client'];

/** The tRPC error code a call failed with ("NOT_FOUND", "FORBIDDEN"...), or null if it succeeded. */
export async function errorCodeOf(call: Promise<unknown>): Promise<string | null> {
  try {
    await call;
    return null;
  } catch (error) {
    if (error instanceof TRPCClientError) return (error as TRPCClientError<AppRouter>).data?.code ?? 'UNKNOWN';
    throw error;
  }
}

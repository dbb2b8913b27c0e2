import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import superjson from 'superjson';
import { MAX_BATCH_CALLS } from '../../../lib/trpc-path';
import type { AppRouter } from '../../../server/trpc/router';

/** A tRPC client signed in as one user, the way the browser is: through better-auth's cookie, from the dashboard's Origin. */
export async function signedInApi(baseURL: string, credentials: { email: string; password: string }) {
  const cookie = await signInCookie(baseURL, credentials);
  return { client: apiClient(baseURL, cookie), cookie };
}

/**
 * Signs in at `baseURL` as a browser on `origin` does (the dashboard's own address: a process behind a load balancer
 * is reached at its own port but answers for the balancer's Origin); resolves with the session cookie.
 */
export async function signInCookie(baseURL: string, credentials: { email: string; password: string }, origin = baseURL): Promise<string> {
  const response = await fetch(`${baseURL}/api/auth/sign-in/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify(credentials),
  });
  if (!response.ok) throw new Error(`sign-in as ${credentials.email} failed: ${response.status} ${await response.text()}`);
  return response.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
}

/** A tRPC client at `baseURL` with a browser's cookie, from `origin`. */
export function apiClient(baseURL: string, cookie: string, origin = baseURL) {
  return createTRPCClient<AppRouter>({
    links: [httpBatchLink({ url: `${baseURL}/api/trpc`, transformer: superjson, headers: () => ({ cookie, origin }), maxItems: MAX_BATCH_CALLS })],
  });
}
export type Api = ReturnType<typeof apiClient>;

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

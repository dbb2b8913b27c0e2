import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, TRPCClientError, type TRPCClient } from '@trpc/client';
import superjson from 'superjson';
import { dashboardAddress } from '../lib/cli-distribution';
import { MAX_BATCH_CALLS, TRPC_PATH } from '../lib/trpc-path';
// Type-only: the bundle holds none of the server (no Prisma, no ssh2), only the router's types.
import type { AppRouter } from '../server/trpc/router';
import { CliError } from './connect';
import { resolveDashboard } from './credentials';
import { FetchEventSource } from './event-source';

/**
 * The dashboard's tRPC API as the CLI calls it, with the user's API token (tRPC accepts a Bearer token,
 * server/http/identity.ts): the same procedures the pages use, typed end to end. Failures become one CliError
 * sentence: the dashboard's own message, or why it could not be asked.
 */

export type DashboardClient = TRPCClient<AppRouter>;
export type BoxListing = Awaited<ReturnType<DashboardClient['boxes']['list']['query']>>[number];

export interface Dashboard {
  url: string;
  token: string;
  client: DashboardClient;
  /** Runs one call (or several) and turns what fails into a CliError sentence. */
  ask<T>(call: (client: DashboardClient) => Promise<T>): Promise<T>;
}

/** The --url and --token flags every command that talks to the dashboard takes (resolveDashboard reads them). */
export const dashboardOptions = {
  url: { type: 'string', value: 'URL', help: 'the dashboard (default: BOXYARD_URL, then your `boxyard login`)' },
  token: { type: 'string', value: 'TOKEN', help: 'an API token (default: BOXYARD_TOKEN, then your `boxyard login`)' },
} as const;

export async function openDashboard(flags: { url?: string; token?: string }): Promise<Dashboard> {
  const { url, token } = await resolveDashboard(flags);
  let endpoint: string;
  try {
    endpoint = dashboardAddress(url, TRPC_PATH).href;
  } catch {
    throw new CliError(`--url ${url} is not a URL; give the dashboard's address, e.g. https://boxyard.example.com`);
  }
  const headers = { authorization: `Bearer ${token}` };
  const client = createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({ url: endpoint, transformer: superjson, EventSource: FetchEventSource, eventSourceOptions: { headers } }),
        false: httpBatchLink({ url: endpoint, transformer: superjson, headers, maxItems: MAX_BATCH_CALLS }),
      }),
    ],
  });
  return {
    url,
    token,
    client,
    // What the dashboard answered (or why it could not) is a sentence; anything else is a bug and keeps its stack.
    ask: (call) => call(client).catch((error: unknown) => Promise.reject(error instanceof TRPCClientError ? dashboardFailure(error, url) : error)),
  };
}

/** What the user reads when a call failed. */
export function dashboardFailure(error: TRPCClientError<AppRouter>, url: string): CliError {
  const code = (error.data as { code?: string } | undefined)?.code;
  if (code === 'UNAUTHORIZED') return new CliError(`the dashboard at ${url} refused the token: ${error.message}`);
  if (code) return new CliError(error.message);
  // No tRPC answer at all: fetch failed (its reason is the cause), or something else answered.
  if (error.cause instanceof TypeError) {
    const reason = error.cause.cause instanceof Error ? error.cause.cause.message : error.cause.message;
    return new CliError(`could not reach the dashboard at ${new URL(url).origin}: ${reason}`);
  }
  return new CliError(`unexpected answer from ${url} (is it a Boxyard dashboard of the same version?): ${error.message}`);
}

/** The box named `name` among those the user may reach; unknown and forbidden read the same. */
export async function findBox(dashboard: Dashboard, name: string): Promise<BoxListing> {
  const boxes = await dashboard.ask((client) => client.boxes.list.query());
  const box = boxes.find((candidate) => candidate.name === name);
  if (!box) throw noSuchBox(dashboard.url, name);
  return box;
}

/** The refusal of a box name the user may not reach (or that does not exist: the same answer). */
export function noSuchBox(url: string, name: string): CliError {
  return new CliError(`no box named ${name} among the ones you may reach on ${url} (\`boxyard ls\` lists them)`);
}

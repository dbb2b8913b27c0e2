'use client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createTRPCClient, httpBatchLink, httpLink, httpSubscriptionLink, splitLink, TRPCClientError } from '@trpc/client';
import { useState, type ReactNode } from 'react';
import { Toaster } from 'sonner';
import superjson from 'superjson';
import { MAX_BATCH_CALLS } from '../lib/trpc-path';
import type { AppRouter } from '../server/trpc/router';
import { TRPCProvider } from './trpc';

/** Answers that a retry cannot change: signed out, refused, not found, bad input. Only other failures are retried. */
const finalCodes = new Set(['UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND', 'BAD_REQUEST', 'CONFLICT']);
function isFinal(error: unknown) {
  return error instanceof TRPCClientError && finalCodes.has(error.data?.code);
}

export function Providers({ children }: { children: ReactNode }) {
  const [queryClient] = useState(
    () =>
      new QueryClient({
        defaultOptions: {
          queries: { retry: (count, error) => !isFinal(error) && count < 2, staleTime: 2_000 },
        },
      }),
  );
  const [trpcClient] = useState(() =>
    createTRPCClient<AppRouter>({
      links: [
        // Subscriptions (live job logs) use server-sent events, which resume from the last event id on reconnect.
        splitLink({
          condition: (op) => op.type === 'subscription',
          true: httpSubscriptionLink({ url: '/api/trpc', transformer: superjson }),
          // A query asked `unbatched` (a slow one, components/fleet-queries.ts) goes alone, so it holds back no other.
          false: splitLink({
            condition: (op) => op.context.unbatched === true,
            true: httpLink({ url: '/api/trpc', transformer: superjson }),
            false: httpBatchLink({ url: '/api/trpc', transformer: superjson, maxItems: MAX_BATCH_CALLS }),
          }),
        }),
      ],
    }),
  );
  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        {children}
        {/* Success and failure of actions (a user added, a job queued); sonner's region is announced politely. */}
        <Toaster position="bottom-right" richColors closeButton />
      </TRPCProvider>
    </QueryClientProvider>
  );
}

import type { QueryClient } from '@tanstack/react-query';
import type { useTRPC } from './trpc';

type Trpc = ReturnType<typeof useTRPC>;

/**
 * The whole fleet, polled (the server's status poller does the SSH work). One definition for the fleet page and for
 * the app shell, which starts it early: the same options give the same query, so the page finds it in flight.
 */
export function fleetBoxesQuery(trpc: Trpc) {
  return { ...trpc.boxes.fleet.queryOptions(), refetchInterval: 5_000 };
}

/**
 * The fleet's metrics, polled. In a request of its own (`unbatched`, components/providers.tsx): it reads each box's
 * last hour of samples, and batched with boxes.fleet it would hold back the rows, which do not need it.
 */
export function fleetMetricsQuery(trpc: Trpc) {
  return {
    ...trpc.metrics.fleet.queryOptions(undefined, { trpc: { context: { unbatched: true } } }),
    refetchInterval: 10_000,
    placeholderData: <T>(previous: T) => previous,
  };
}

/**
 * Starts the fleet's boxes while the app shell still asks who is signed in (users.me), instead of after it: the page
 * renders only once users.me has answered. Its metrics follow once the boxes have come (as the page, which mounts
 * then, would ask for them): asked at once, they ran beside boxes.fleet on the server and the rows came later. A
 * signed-out or refused session gets the same refusal as the page's own queries would, and nothing is shown from them.
 */
export function prefetchFleet(queryClient: QueryClient, trpc: Trpc): void {
  void queryClient.prefetchQuery(fleetBoxesQuery(trpc)).then(() => queryClient.prefetchQuery(fleetMetricsQuery(trpc)));
}

'use client';
import { useQuery } from '@tanstack/react-query';
import { useTRPC } from './trpc';

/**
 * Sign-in and the terminal WebSocket accept only BOXYARD_URL's origin (a page elsewhere must not drive a shell), and
 * a browser cannot read why a refused request or WebSocket upgrade failed: say it here instead.
 */
export function OriginWarning() {
  const trpc = useTRPC();
  const configured = useQuery(trpc.settings.publicOrigin.queryOptions());
  if (!configured.data || typeof window === 'undefined' || configured.data.origin === window.location.origin) return null;
  return (
    <div role="alert" className="bg-amber-50 px-4 py-2 text-center text-sm text-amber-900 ring-1 ring-amber-200">
      This dashboard is configured for {configured.data.origin} (BOXYARD_URL) but was opened at {window.location.origin}: sign-in and
      terminals only work at{' '}
      <a className="underline" href={configured.data.origin}>
        {configured.data.origin}
      </a>
      . Open it there, or set BOXYARD_URL.
    </div>
  );
}

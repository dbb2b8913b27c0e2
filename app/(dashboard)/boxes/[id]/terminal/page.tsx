'use client';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useParams, useRouter, useSearchParams } from 'next/navigation';
import { useEffect, useState } from 'react';
import { stateLabel } from '../../../../../components/terminal/connection-banner';
import { boxPageHref, isContainerName, isSessionId, terminalPageHref } from '../../../../../components/terminal/links';
import { createSessionId } from '../../../../../components/terminal/session-ids';
import type { ConnectionState } from '../../../../../components/terminal/terminal-connection';
import { TerminalView } from '../../../../../components/terminal/terminal-view';
import { useTRPC } from '../../../../../components/trpc';

/**
 * One terminal filling the window: /boxes/<box>/terminal?session=<uuid>[&container=<name>]. Without a session
 * the page makes one and puts it in the URL, so a reload re-attaches instead of starting another shell.
 */
export default function TerminalPage() {
  const { id } = useParams<{ id: string }>();
  const searchParams = useSearchParams();
  const router = useRouter();
  const trpc = useTRPC();
  const box = useQuery(trpc.boxes.get.queryOptions({ id }));
  const [state, setState] = useState<ConnectionState>({ status: 'connecting' });

  const sessionParam = searchParams.get('session');
  const session = sessionParam && isSessionId(sessionParam) ? sessionParam : null;
  const containerParam = searchParams.get('container');
  const container = containerParam && isContainerName(containerParam) ? containerParam : undefined;

  useEffect(() => {
    if (!session) router.replace(terminalPageHref(id, { session: createSessionId(), container }));
  }, [session, container, id, router]);

  const startNew = () => router.replace(terminalPageHref(id, { session: createSessionId(), container }));

  return (
    // Covers the dashboard's navigation: the terminal gets the whole window below a thin header.
    <div className="fixed inset-0 z-40 flex flex-col bg-slate-950">
      <header className="flex items-center gap-4 border-b border-slate-800 px-4 py-2 text-sm text-slate-200">
        <Link href={boxPageHref(id, session ? [{ session, container }] : [])} className="text-slate-400 hover:text-white">
          <span aria-hidden="true">← </span>Back to box
        </Link>
        <h1 className="font-medium">
          {box.data?.name ?? '…'}
          {container && <span className="text-slate-400"> / {container}</span>}
        </h1>
        <span className="ml-auto text-xs text-slate-400" data-testid="terminal-connection-state">
          {stateLabel(state)}
        </span>
      </header>
      <div className="min-h-0 flex-1 p-1">
        {session && (
          <TerminalView key={session} sessionId={session} boxId={id} container={container} autoFocus onStateChange={setState} onNewSession={startNew} />
        )}
      </div>
    </div>
  );
}

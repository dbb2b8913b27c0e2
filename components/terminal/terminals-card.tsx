'use client';
import { useMutation, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useSearchParams } from 'next/navigation';
import { useId, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { useTRPC } from '../trpc';
import { BlockedReason, Button, Card } from '../ui';
import { stateLabel } from './connection-banner';
import { formatTabs, parseTabs, terminalPageHref, type TerminalTab } from './links';
import { createSessionId } from './session-ids';
import type { ConnectionState } from './terminal-connection';
import { TerminalView, type TerminalHandle } from './terminal-view';

/**
 * The box page's terminals: one tab per session. The open tabs live in the page URL (`?t=`, see links.ts), so a
 * reload re-attaches every tab; hidden tabs stay mounted and connected.
 */
export function TerminalsCard({ boxId, online, blocked }: { boxId: string; online: boolean; blocked: string | null }) {
  const searchParams = useSearchParams();
  const tabs = useMemo(() => parseTabs(searchParams.get('t')), [searchParams]);
  const [selected, setSelected] = useState<string | null>(null);
  const active = tabs.find((t) => t.session === selected) ?? tabs.at(-1);
  /** The tab the user just opened: it takes keyboard focus once connected. */
  const [opened, setOpened] = useState<string | null>(null);
  const [states, setStates] = useState<Record<string, ConnectionState>>({});
  const handles = useRef(new Map<string, TerminalHandle>());
  const domId = useId();
  const tabId = (tab: TerminalTab) => `${domId}-tab-${tab.session}`;
  const panelId = (tab: TerminalTab) => `${domId}-panel-${tab.session}`;
  const labels = tabLabels(tabs);
  const trpc = useTRPC();
  // Errors are ignored: the session may be gone already, and the server ends forgotten ones after its idle timeout.
  const closeSession = useMutation(trpc.terminals.close.mutationOptions());

  function openTab(container?: string) {
    const session = createSessionId();
    writeTabs([...readTabs(), container ? { session, container } : { session }]);
    setSelected(session);
    setOpened(session);
  }

  function closeTab(tab: TerminalTab) {
    const ended = states[tab.session]?.status === 'ended';
    // Not connected (reconnecting, or the terminal never loaded): end it through the API instead.
    if (!handles.current.get(tab.session)?.end() && !ended) closeSession.mutate({ id: tab.session });
    const current = readTabs();
    const index = current.findIndex((t) => t.session === tab.session);
    const rest = current.filter((t) => t.session !== tab.session);
    writeTabs(rest);
    if (active?.session === tab.session) setSelected(rest[Math.min(index, rest.length - 1)]?.session ?? null);
    setStates(({ [tab.session]: _closed, ...others }) => others);
  }

  /** After a session ended: the same tab (and container) gets a fresh session. */
  function restartTab(tab: TerminalTab) {
    const session = createSessionId();
    writeTabs(readTabs().map((t) => (t.session === tab.session ? { ...t, session } : t)));
    if (active?.session === tab.session) setSelected(session);
    setOpened(session);
  }

  // Arrow keys, Home and End move between tabs (WAI-ARIA tabs pattern, automatic activation).
  function onTabKeys(event: KeyboardEvent) {
    if (!active) return;
    const index = tabs.indexOf(active);
    const next = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: tabs.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    const tab = tabs[(next + tabs.length) % tabs.length];
    setSelected(tab.session);
    document.getElementById(tabId(tab))?.focus();
  }

  return (
    <Card
      title="Terminals"
      actions={
        <Button onClick={() => openTab()} disabled={blocked !== null} title={blocked ?? undefined}>
          New terminal
        </Button>
      }
    >
      {blocked && <BlockedReason reason={blocked} />}
      <ContainerShells boxId={boxId} online={online} onOpen={openTab} />
      {tabs.length === 0 ? (
        <p className="text-sm text-slate-500">No terminal open.</p>
      ) : (
        <>
          <div role="tablist" aria-label="Terminals" className="flex flex-wrap gap-1 border-b border-slate-200" onKeyDown={onTabKeys}>
            {tabs.map((tab, i) => {
              const isActive = tab === active;
              return (
                <button
                  key={tab.session}
                  type="button"
                  role="tab"
                  id={tabId(tab)}
                  aria-selected={isActive}
                  aria-controls={panelId(tab)}
                  tabIndex={isActive ? 0 : -1}
                  data-tab-session={tab.session}
                  onClick={() => setSelected(tab.session)}
                  className={`-mb-px flex items-center gap-2 rounded-t-md border px-3 py-1.5 text-sm ${isActive ? 'border-slate-200 border-b-white bg-white font-medium' : 'border-transparent text-slate-600 hover:text-slate-900'}`}
                >
                  <StateDot state={states[tab.session]} />
                  {labels[i]}
                </button>
              );
            })}
          </div>
          {tabs.map((tab) => {
            const state = states[tab.session];
            return (
              <div key={tab.session} role="tabpanel" id={panelId(tab)} aria-labelledby={tabId(tab)} hidden={tab !== active} className="pt-3">
                <div className="mb-2 flex flex-wrap items-center gap-2">
                  <span className="mr-auto text-xs text-slate-500">
                    {tab.container ? `Container ${tab.container}` : 'Box shell'}
                    {state && ` · ${stateLabel(state)}`}
                  </span>
                  <Link href={terminalPageHref(boxId, tab)} className="rounded-md px-3 py-1.5 text-sm font-medium text-indigo-700 hover:bg-indigo-50">
                    Open full screen
                  </Link>
                  <Button variant="secondary" onClick={() => closeTab(tab)}>
                    Close terminal
                  </Button>
                </div>
                <div className="h-[28rem]">
                  <TerminalView
                    ref={(handle) => {
                      if (handle) handles.current.set(tab.session, handle);
                      return () => {
                        handles.current.delete(tab.session);
                      };
                    }}
                    sessionId={tab.session}
                    boxId={boxId}
                    container={tab.container}
                    autoFocus={tab.session === opened}
                    onStateChange={(next) => setStates((all) => ({ ...all, [tab.session]: next }))}
                    onNewSession={() => restartTab(tab)}
                  />
                </div>
              </div>
            );
          })}
        </>
      )}
    </Card>
  );
}

/** Running containers, each with a button opening a shell inside it in a new tab. */
function ContainerShells({ boxId, online, onOpen }: { boxId: string; online: boolean; onOpen: (container: string) => void }) {
  const trpc = useTRPC();
  // Each listing is an audited SSH command, so it is not polled: fetched once a minute at most, or on demand.
  const containers = useQuery({ ...trpc.boxes.containers.queryOptions({ id: boxId }), enabled: online, staleTime: 60_000 });
  if (containers.error) return <p className="mb-4 text-xs text-slate-500">Containers could not be listed: {containers.error.message}</p>;
  if (!containers.data) return null;
  if ('unavailable' in containers.data) return <p className="mb-4 text-xs text-slate-500">Containers: {containers.data.unavailable}</p>;
  const running = containers.data.containers.filter((c) => c.running);
  return (
    <div className="mb-4">
      <div className="mb-2 flex items-center gap-2">
        <h3 className="text-sm font-medium text-slate-700">Running containers</h3>
        <Button variant="ghost" className="px-2 py-0.5 text-xs" aria-label="Refresh containers" onClick={() => void containers.refetch()} disabled={containers.isFetching}>
          {containers.isFetching ? 'Refreshing…' : 'Refresh'}
        </Button>
      </div>
      {running.length === 0 ? (
        <p className="text-xs text-slate-500">No running containers.</p>
      ) : (
        <ul className="divide-y divide-slate-100 rounded-md ring-1 ring-slate-200">
          {running.map((c) => (
            <li key={c.id} className="flex items-center gap-3 px-3 py-2 text-sm" data-container={c.name}>
              <span className="font-medium">{c.name}</span>
              <span className="min-w-0 truncate font-mono text-xs text-slate-500">{c.image}</span>
              <span className="hidden text-xs text-slate-500 sm:inline">{c.status}</span>
              <Button variant="secondary" className="ml-auto shrink-0" aria-label={`Open shell in ${c.name}`} onClick={() => onOpen(c.name)}>
                Open shell
              </Button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function StateDot({ state }: { state: ConnectionState | undefined }) {
  const colour = { connecting: 'bg-slate-300', open: 'bg-emerald-500', reconnecting: 'bg-amber-500', ended: 'bg-red-500' }[state?.status ?? 'connecting'];
  return <span aria-hidden="true" className={`size-2 rounded-full ${colour}`} />;
}

/** "Shell 1", "Shell 2" for box shells; the container's name for container shells ("web 2" for a second one). */
function tabLabels(tabs: TerminalTab[]): string[] {
  const seen = new Map<string, number>();
  return tabs.map((t) => {
    const base = t.container ?? 'Shell';
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return t.container && n === 1 ? base : `${base} ${n}`;
  });
}

/** Read from the address bar, not from render state, so quick successive clicks see each other's changes. */
function readTabs(): TerminalTab[] {
  return parseTabs(new URLSearchParams(window.location.search).get('t'));
}

/** Next.js syncs useSearchParams with history.replaceState, without a navigation or a server round trip. */
function writeTabs(tabs: TerminalTab[]) {
  const params = new URLSearchParams(window.location.search);
  params.delete('t');
  const query = [params.toString(), tabs.length ? `t=${formatTabs(tabs)}` : ''].filter(Boolean).join('&');
  window.history.replaceState(null, '', `${window.location.pathname}${query ? `?${query}` : ''}`);
}

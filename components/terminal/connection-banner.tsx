'use client';
import { useEffect, useState, type ReactNode } from 'react';
import { closeCodes } from '../../lib/terminal-protocol';
import { Button } from '../ui';
import type { ConnectionState } from './terminal-connection';

export function stateLabel(state: ConnectionState): string {
  if (state.status === 'ended' && state.code === closeCodes.replaced) return 'Disconnected';
  return { connecting: 'Connecting…', open: 'Connected', reconnecting: 'Reconnecting…', ended: 'Ended' }[state.status];
}

/** The notice over a terminal that is not simply connected. A live region, so changes are announced. */
export function ConnectionBanner({
  state,
  onReconnect,
  onNewSession,
}: {
  state: ConnectionState;
  onReconnect: () => void;
  onNewSession: () => void;
}) {
  return (
    <div role="status" aria-live="polite" className="pointer-events-none absolute inset-x-3 top-3 z-10 flex justify-center">
      {state.status === 'connecting' && <Note>Connecting…</Note>}
      {state.status === 'open' && state.error && <Note>{state.error}</Note>}
      {state.status === 'reconnecting' && (
        // Keyed by attempt time so each countdown starts from a fresh clock.
        <Reconnecting key={state.at} at={state.at} onReconnect={onReconnect} />
      )}
      {state.status === 'ended' &&
        (state.code === closeCodes.replaced ? (
          <Note>
            Disconnected: {state.reason}
            <Button variant="secondary" onClick={onReconnect}>
              Take over here
            </Button>
          </Note>
        ) : (
          <Note>
            Session ended: {state.reason}
            <Button onClick={onNewSession}>Start a new session</Button>
          </Note>
        ))}
    </div>
  );
}

function Reconnecting({ at, onReconnect }: { at: number; onReconnect: () => void }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, []);
  const seconds = Math.ceil((at - now) / 1000);
  return (
    <Note>
      {seconds > 0 ? `Reconnecting in ${seconds} s…` : 'Reconnecting…'}
      <Button variant="secondary" onClick={onReconnect}>
        Reconnect now
      </Button>
    </Note>
  );
}

function Note({ children }: { children: ReactNode }) {
  return (
    <div className="pointer-events-auto flex flex-wrap items-center gap-3 rounded-md bg-slate-800/95 px-3 py-2 text-sm text-slate-100 shadow-lg ring-1 ring-slate-600">
      {children}
    </div>
  );
}

'use client';
import '@xterm/xterm/css/xterm.css';
import type { FitAddon } from '@xterm/addon-fit';
import type { SearchAddon } from '@xterm/addon-search';
import type { WebglAddon } from '@xterm/addon-webgl';
import type { ITerminalOptions, Terminal } from '@xterm/xterm';
import { useEffect, useImperativeHandle, useRef, useState, type Ref } from 'react';
import { ConnectionBanner } from './connection-banner';
import { TerminalSearch } from './terminal-search';
import { TerminalConnection, type ConnectionState } from './terminal-connection';
import { errorMessage } from '../../lib/errors';

declare global {
  interface Window {
    /**
     * Test hook: the live xterm Terminal of every mounted terminal view, by session id. Browser tests read
     * `term.buffer.active` from it (never the DOM, which the WebGL renderer does not fill).
     */
    __boxyardTerminals?: Record<string, Terminal>;
  }
}

export type TerminalHandle = {
  /** Ends the session on the server (its shell exits); false when not connected, so nothing was sent. */
  end(): boolean;
  focus(): void;
};

const RESIZE_DEBOUNCE_MS = 80;

const terminalOptions: ITerminalOptions = {
  scrollback: 5000,
  fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", "Liberation Mono", monospace',
  fontSize: 13,
  cursorBlink: true,
  // Colours 16–255 come from xterm's built-in 256-colour table; these are the 16 a theme sets.
  theme: {
    background: '#0f172a',
    foreground: '#e2e8f0',
    cursor: '#f8fafc',
    cursorAccent: '#0f172a',
    selectionBackground: '#475569',
    black: '#1e293b',
    red: '#f87171',
    green: '#4ade80',
    yellow: '#facc15',
    blue: '#60a5fa',
    magenta: '#c084fc',
    cyan: '#22d3ee',
    white: '#cbd5e1',
    brightBlack: '#64748b',
    brightRed: '#fca5a5',
    brightGreen: '#86efac',
    brightYellow: '#fde047',
    brightBlue: '#93c5fd',
    brightMagenta: '#d8b4fe',
    brightCyan: '#67e8f9',
    brightWhite: '#f8fafc',
  },
};

/**
 * One terminal attached to one session. Unmounting lets go of the socket but keeps the session (a reload or
 * another page re-attaches); `ref.end()` ends it. The wrapper carries `data-session-id` and
 * `data-terminal-state` (connecting|open|reconnecting|ended) for tests and styling.
 */
export function TerminalView({
  sessionId,
  boxId,
  container,
  autoFocus = false,
  onStateChange,
  onNewSession,
  ref,
}: {
  sessionId: string;
  boxId: string;
  container?: string;
  /** Focus the terminal once it connects (opt-in: focusing scrolls the page to it). */
  autoFocus?: boolean;
  onStateChange?: (state: ConnectionState) => void;
  /** Called from the "Start a new session" button after the session ended. */
  onNewSession: () => void;
  ref?: Ref<TerminalHandle>;
}) {
  const hostRef = useRef<HTMLDivElement>(null);
  const termRef = useRef<Terminal | null>(null);
  const connectionRef = useRef<TerminalConnection | null>(null);
  const [search, setSearch] = useState<SearchAddon | null>(null);
  const [searchOpen, setSearchOpen] = useState(false);
  const [state, setState] = useState<ConnectionState>({ status: 'connecting' });
  // Read through refs so new callback identities do not tear down the session's socket.
  const latest = useRef({ onStateChange, autoFocus });
  useEffect(() => {
    latest.current = { onStateChange, autoFocus };
  });

  useImperativeHandle(ref, () => ({ end: () => connectionRef.current?.end() ?? false, focus: () => termRef.current?.focus() }), []);

  useEffect(() => {
    const host = hostRef.current!;
    let disposed = false;
    const cleanups: (() => void)[] = [];
    const report = (next: ConnectionState) => {
      setState(next);
      latest.current.onStateChange?.(next);
    };

    // xterm touches `window` when loaded, so it is imported here, on the client only.
    Promise.all([import('@xterm/xterm'), import('@xterm/addon-fit'), import('@xterm/addon-webgl'), import('@xterm/addon-search'), import('@xterm/addon-web-links')])
      .then(([{ Terminal }, { FitAddon }, { WebglAddon }, { SearchAddon }, { WebLinksAddon }]) => {
        if (disposed) return;
        const term = new Terminal(terminalOptions);
        const fit = new FitAddon();
        term.loadAddon(fit);
        const searchAddon = new SearchAddon();
        term.loadAddon(searchAddon);
        setSearch(searchAddon);
        // http(s) links in the output open in a new tab that cannot reach back into the dashboard (noopener).
        term.loadAddon(new WebLinksAddon((event, uri) => {
          event.preventDefault();
          window.open(uri, '_blank', 'noopener,noreferrer');
        }));
        term.open(host);
        loadWebgl(term, WebglAddon);
        fitIfShown(host, fit);
        termRef.current = term;
        const hooks = (window.__boxyardTerminals ??= {});
        hooks[sessionId] = term;
        cleanups.push(() => {
          if (hooks[sessionId] === term) delete hooks[sessionId];
          termRef.current = null;
          setSearch(null);
          term.dispose();
        });

        term.attachCustomKeyEventHandler((event) => {
          if (isSearchKey(event)) {
            if (event.type === 'keydown') setSearchOpen(true);
            return false;
          }
          return clipboardKeys(term, event);
        });
        if (copiesOnSelect()) {
          const selected = term.onSelectionChange(() => {
            if (term.hasSelection()) copyText(term.getSelection());
          });
          cleanups.push(() => selected.dispose());
        }

        const connection = new TerminalConnection({ session: sessionId, box: boxId, container, terminal: term, cols: term.cols, rows: term.rows });
        connectionRef.current = connection;
        cleanups.push(() => {
          connectionRef.current = null;
          connection.dispose();
        });
        let focused = false;
        connection.onState((next) => {
          term.options.disableStdin = next.status !== 'open';
          if (next.status === 'open' && !focused && latest.current.autoFocus) {
            focused = true;
            term.focus();
          }
          report(next);
        });
        const input = term.onData((data) => connection.sendInput(data));
        const binary = term.onBinary((data) => connection.sendInput(data));
        const resized = term.onResize(({ cols, rows }) => connection.resize(cols, rows));
        cleanups.push(() => [input, binary, resized].forEach((d) => d.dispose()));

        let timer: ReturnType<typeof setTimeout> | undefined;
        const observer = new ResizeObserver(() => {
          clearTimeout(timer);
          timer = setTimeout(() => fitIfShown(host, fit), RESIZE_DEBOUNCE_MS);
        });
        observer.observe(host);
        cleanups.push(() => {
          clearTimeout(timer);
          observer.disconnect();
        });

        connection.start();
      })
      .catch((error: unknown) => {
        if (!disposed) report({ status: 'ended', code: 0, reason: `The terminal could not be loaded (${errorMessage(error)}).` });
      });

    return () => {
      disposed = true;
      // Socket first, then the terminal it writes to.
      cleanups.reverse().forEach((cleanup) => cleanup());
    };
  }, [sessionId, boxId, container]);

  return (
    <div className="relative h-full w-full overflow-hidden rounded-md bg-[#0f172a] p-2" data-session-id={sessionId} data-terminal-state={state.status}>
      {/* isolate: keeps xterm's own z-indexes (up to 11) below the banner. */}
      <div ref={hostRef} className="isolate h-full w-full" />
      {search && (
        <TerminalSearch
          search={search}
          open={searchOpen}
          onOpenChange={(open) => {
            setSearchOpen(open);
            if (!open) termRef.current?.focus();
          }}
        />
      )}
      <ConnectionBanner state={state} onReconnect={() => connectionRef.current?.reconnectNow()} onNewSession={onNewSession} />
    </div>
  );
}

/**
 * WebGL draws faster, but only on a GPU: software WebGL (SwiftShader in headless or GPU-less browsers) measured
 * over 10x slower than xterm's DOM renderer, which also stays in place when WebGL fails or loses its context.
 */
function loadWebgl(term: Terminal, Webgl: typeof WebglAddon) {
  if (!hasGpuWebgl()) return;
  try {
    const webgl = new Webgl();
    webgl.onContextLoss(() => webgl.dispose());
    term.loadAddon(webgl);
  } catch {
    // No WebGL2 here: the DOM renderer stays.
  }
}

/** Probed once per page: browsers allow only a few live WebGL contexts. */
let gpuWebgl: boolean | undefined;
function hasGpuWebgl(): boolean {
  if (gpuWebgl === undefined) {
    const gl = document.createElement('canvas').getContext('webgl2', { failIfMajorPerformanceCaveat: true });
    // Chrome and Safari mask RENDERER; the debug extension tells the real one.
    const debug = gl?.getExtension('WEBGL_debug_renderer_info');
    const renderer = gl ? `${gl.getParameter(gl.RENDERER)} ${debug ? gl.getParameter(debug.UNMASKED_RENDERER_WEBGL) : ''}` : '';
    gl?.getExtension('WEBGL_lose_context')?.loseContext();
    gpuWebgl = gl !== null && !/swiftshader|llvmpipe|softpipe|software/i.test(renderer);
  }
  return gpuWebgl;
}

/** A hidden tab has no size; it is fitted when the ResizeObserver sees it shown. */
function fitIfShown(host: HTMLElement, fit: FitAddon) {
  if (host.clientWidth > 0 && host.clientHeight > 0) fit.fit();
}

/**
 * Ctrl+Shift+C copies the selection (plain Ctrl+C stays the shell's interrupt). Ctrl+Shift+V is left to the
 * browser, whose paste event reaches xterm, which sends the text (bracketed when the shell asked for it).
 * Returns false for keys xterm must not handle.
 */
function clipboardKeys(term: Terminal, event: KeyboardEvent): boolean {
  if (!event.ctrlKey || !event.shiftKey || event.altKey || event.metaKey) return true;
  if (event.code === 'KeyC') {
    if (event.type === 'keydown') {
      event.preventDefault();
      if (term.hasSelection()) copyText(term.getSelection());
    }
    return false;
  }
  return event.code !== 'KeyV';
}

/** Ctrl+Shift+F searches the scrollback (plain Ctrl+F stays the shell's). */
function isSearchKey(event: KeyboardEvent): boolean {
  return event.ctrlKey && event.shiftKey && !event.altKey && !event.metaKey && event.code === 'KeyF';
}

/**
 * Linux terminals copy what is selected, without a key; elsewhere (macOS, Windows) a selection is only a selection.
 * A page cannot write the X11 primary selection, so the clipboard stands in for it.
 */
function copiesOnSelect(): boolean {
  return /Linux/.test(navigator.platform) && !/Android/.test(navigator.userAgent);
}

function copyText(text: string) {
  // navigator.clipboard exists only in secure contexts; elsewhere the copy command lets xterm's own copy
  // handler put its selection on the clipboard.
  if (navigator.clipboard) navigator.clipboard.writeText(text).catch(() => document.execCommand('copy'));
  else document.execCommand('copy');
}

'use client';
import type { SearchAddon } from '@xterm/addon-search';
import { useEffect, useRef, useState } from 'react';

/**
 * A search box over a terminal's scrollback (xterm's search addon): Enter finds the next match upwards, Shift+Enter
 * the one below, Escape closes. Opened by its button or Ctrl+Shift+F in the terminal.
 */
export function TerminalSearch({ search, open, onOpenChange }: { search: SearchAddon; open: boolean; onOpenChange: (open: boolean) => void }) {
  const [query, setQuery] = useState('');
  const [found, setFound] = useState<boolean | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (open) inputRef.current?.focus();
  }, [open]);

  const find = (direction: 'previous' | 'next') => {
    if (!query) return setFound(null);
    // Newest output is at the bottom: "previous" walks up into the scrollback.
    setFound(direction === 'previous' ? search.findPrevious(query) : search.findNext(query));
  };

  if (!open) {
    return (
      <button
        type="button"
        className="absolute right-3 top-3 z-20 rounded bg-slate-800/80 px-2 py-0.5 text-xs text-slate-300 hover:bg-slate-700 hover:text-white"
        onClick={() => onOpenChange(true)}
        title="Search the scrollback (Ctrl+Shift+F)"
      >
        Search
      </button>
    );
  }
  return (
    <form
      role="search"
      aria-label="Search the terminal"
      className="absolute right-3 top-3 z-20 flex items-center gap-1 rounded bg-slate-800 p-1 text-xs text-slate-200 shadow"
      onSubmit={(event) => event.preventDefault()}
    >
      <input
        ref={inputRef}
        aria-label="Search the scrollback"
        className="w-44 rounded bg-slate-900 px-2 py-1 text-slate-100 outline-none ring-1 ring-slate-600 focus:ring-indigo-400"
        value={query}
        onChange={(event) => {
          setQuery(event.target.value);
          setFound(null);
        }}
        onKeyDown={(event) => {
          if (event.key === 'Enter') {
            event.preventDefault();
            find(event.shiftKey ? 'next' : 'previous');
          } else if (event.key === 'Escape') {
            search.clearDecorations();
            onOpenChange(false);
          }
        }}
      />
      <span aria-live="polite" className="w-14 text-center text-slate-400">
        {found === false ? 'no match' : ''}
      </span>
      <button type="button" className="rounded px-1.5 py-1 hover:bg-slate-700" onClick={() => find('previous')} aria-label="Previous match (older)">
        ↑
      </button>
      <button type="button" className="rounded px-1.5 py-1 hover:bg-slate-700" onClick={() => find('next')} aria-label="Next match (newer)">
        ↓
      </button>
      <button
        type="button"
        className="rounded px-1.5 py-1 hover:bg-slate-700"
        onClick={() => {
          search.clearDecorations();
          onOpenChange(false);
        }}
        aria-label="Close the search"
      >
        ✕
      </button>
    </form>
  );
}

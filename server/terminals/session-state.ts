import { sessionStates, type SessionState } from '../../lib/terminal-protocol';

export type StateListener = (state: SessionState, previous: SessionState) => void;

/**
 * A terminal session's lifecycle: starting -> ready -> closing -> done, forward only. Steps may be skipped
 * (a shell that fails to open goes from starting to done). A move backwards or to the same state is ignored
 * and reported by returning false instead of throwing: the shell exiting, the user closing and the dashboard
 * stopping race each other all the time, and the first one to get there simply wins.
 */
export class SessionStateMachine {
  private current: SessionState = 'starting';
  private readonly listeners = new Set<StateListener>();
  /** Moves made by a listener wait here, so every listener sees the moves in the order they happened. */
  private readonly undelivered: [SessionState, SessionState][] = [];
  private delivering = false;

  get state(): SessionState {
    return this.current;
  }

  /** At or past `state`: e.g. isAtLeast('closing') is true while closing and once done. */
  isAtLeast(state: SessionState): boolean {
    return sessionStates.indexOf(this.current) >= sessionStates.indexOf(state);
  }

  /** Moves forward to `next` and tells the listeners; returns false (and does nothing) otherwise. */
  moveTo(next: SessionState): boolean {
    if (sessionStates.indexOf(next) <= sessionStates.indexOf(this.current)) return false;
    this.undelivered.push([next, this.current]);
    this.current = next;
    if (this.delivering) return true;
    this.delivering = true;
    try {
      for (let move = this.undelivered.shift(); move; move = this.undelivered.shift()) {
        for (const listener of [...this.listeners]) listener(...move);
      }
    } finally {
      this.delivering = false;
    }
    return true;
  }

  /** Calls `listener` on every later move; returns the function that removes it. */
  onChange(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

import { describe, expect, it } from 'vitest';
import { SessionStateMachine } from './session-state';

describe('SessionStateMachine', () => {
  it('starts in starting and moves forward through every state, telling its listeners', () => {
    const machine = new SessionStateMachine();
    const seen: string[] = [];
    machine.onChange((state, previous) => seen.push(`${previous}->${state}`));
    expect(machine.state).toBe('starting');
    expect(machine.moveTo('ready')).toBe(true);
    expect(machine.moveTo('closing')).toBe(true);
    expect(machine.moveTo('done')).toBe(true);
    expect(seen).toEqual(['starting->ready', 'ready->closing', 'closing->done']);
  });

  it('may skip states (a shell that never opened goes straight to done)', () => {
    const machine = new SessionStateMachine();
    expect(machine.moveTo('done')).toBe(true);
    expect(machine.state).toBe('done');
  });

  it('ignores moves backwards or to the same state, without telling listeners', () => {
    const machine = new SessionStateMachine();
    machine.moveTo('closing');
    let calls = 0;
    machine.onChange(() => calls++);
    expect(machine.moveTo('ready')).toBe(false);
    expect(machine.moveTo('starting')).toBe(false);
    expect(machine.moveTo('closing')).toBe(false);
    expect(machine.state).toBe('closing');
    expect(calls).toBe(0);
  });

  it('compares states by their order', () => {
    const machine = new SessionStateMachine();
    machine.moveTo('ready');
    expect(machine.isAtLeast('starting')).toBe(true);
    expect(machine.isAtLeast('ready')).toBe(true);
    expect(machine.isAtLeast('closing')).toBe(false);
  });

  it('stops calling a listener once it is removed', () => {
    const machine = new SessionStateMachine();
    const seen: string[] = [];
    const remove = machine.onChange((state) => seen.push(state));
    machine.moveTo('ready');
    remove();
    machine.moveTo('done');
    expect(seen).toEqual(['ready']);
  });

  it('lets a listener move the machine on without losing the order of events', () => {
    const machine = new SessionStateMachine();
    const seen: string[] = [];
    machine.onChange((state) => {
      if (state === 'closing') machine.moveTo('done');
    });
    machine.onChange((state, previous) => seen.push(`${previous}->${state}`));
    machine.moveTo('closing');
    expect(machine.state).toBe('done');
    expect(seen).toEqual(['starting->closing', 'closing->done']);
  });
});

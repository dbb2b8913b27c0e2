import { describe, expect, it } from 'vitest';
import { AppError } from '../errors';
import { capOutput } from './journal';
import { StepFailed } from './recipe';
import { isTransient } from './runner';

describe('capOutput', () => {
  it('keeps short output as lines, without the trailing newline, and what a progress line finally showed', () => {
    expect(capOutput('')).toEqual([]);
    expect(capOutput('one\ntwo\n\n')).toEqual(['one', 'two']);
    expect(capOutput('Progress 10%\rProgress 50%\rProgress 100%\r\ndone\n')).toEqual(['Progress 100%', 'done']);
  });

  it('keeps the first 20 and the last 80 lines of a long output, and cuts very long lines', () => {
    const lines = capOutput(Array.from({ length: 250 }, (_, i) => `line ${i + 1}`).join('\n'));
    expect(lines).toHaveLength(101);
    expect(lines.slice(19, 22)).toEqual(['line 20', '[150 lines not logged]', 'line 171']);
    expect(lines.at(-1)).toBe('line 250');
    expect(capOutput('x'.repeat(5000))).toEqual([`${'x'.repeat(2000)} [cut]`]);
  });
});

describe('isTransient', () => {
  it('retries connection problems, not permanent SSH errors, timed-out commands or step failures', () => {
    expect(isTransient(new AppError('SSH_UNREACHABLE', 'connection refused on 127.0.0.1:22'))).toBe(true);
    expect(isTransient(new AppError('SSH_DISCONNECTED', 'connection to x closed during the command; it may or may not have finished'))).toBe(true);
    expect(isTransient(new AppError('SSH_TIMEOUT', 'timed out after 8 s waiting for the SSH connection to x; the box may be down or overloaded'))).toBe(true);
    expect(isTransient(new AppError('SSH_TIMEOUT', 'the command did not finish within 60 s on x and was stopped'))).toBe(false);
    expect(isTransient(new AppError('SSH_AUTH_FAILED', 'permission denied for user dev'))).toBe(false);
    expect(isTransient(new AppError('SSH_HOST_KEY_MISMATCH', 'the host key changed'))).toBe(false);
    expect(isTransient(new StepFailed('the box user needs passwordless sudo (NOPASSWD) for provisioning'))).toBe(false);
  });
});

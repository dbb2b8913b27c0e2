import { describe, expect, it } from 'vitest';
import { AppError } from '../errors';
import { SshTimeoutError } from '../ssh/errors';
import { capOutput, OutputLines } from './journal';
import { StepFailed } from './recipe';
import { isTransient } from './runner';

describe('capOutput', () => {
  it('keeps short output as lines, without the trailing newline, and what a progress line finally showed', () => {
    expect(capOutput('')).toEqual([]);
    expect(capOutput('one\ntwo\n\n')).toEqual(['one', 'two']);
    expect(capOutput('Progress 10%\rProgress 50%\rProgress 100%\r\ndone\n')).toEqual(['Progress 100%', 'done']);
  });

  it('keeps the first 200 and the last 100 lines of a long output, and cuts very long lines', () => {
    const lines = capOutput(Array.from({ length: 450 }, (_, i) => `line ${i + 1}`).join('\n'));
    expect(lines).toHaveLength(301);
    expect(lines.slice(199, 202)).toEqual(['line 200', '[150 lines not logged]', 'line 351']);
    expect(lines.at(-1)).toBe('line 450');
    expect(capOutput('x'.repeat(5000))).toEqual([`${'x'.repeat(2000)} [cut]`]);
  });
});

describe('OutputLines', () => {
  it('hands on whole lines as they arrive, joins lines and UTF-8 characters split across chunks, keeps inner blank lines', () => {
    const batches: string[][] = [];
    const splitter = new OutputLines((lines) => batches.push(lines));
    const euro = Buffer.from('€');
    splitter.push(Buffer.from('Get:1 http://deb'));
    expect(batches).toEqual([]);
    splitter.push(Buffer.concat([Buffer.from('ian docker.io\n\nprice '), euro.subarray(0, 1)]));
    expect(batches).toEqual([['Get:1 http://debian docker.io']]);
    splitter.push(Buffer.concat([euro.subarray(1), Buffer.from('5\n\n')]));
    splitter.end();
    expect(batches).toEqual([['Get:1 http://debian docker.io'], ['', 'price €5']]);
  });
});

describe('isTransient', () => {
  it('retries connection problems, not permanent SSH errors, timed-out commands or step failures', () => {
    expect(isTransient(new AppError('SSH_UNREACHABLE', 'connection refused on 127.0.0.1:22'))).toBe(true);
    expect(isTransient(new AppError('SSH_DISCONNECTED', 'connection to x closed during the command; it may or may not have finished'))).toBe(true);
    expect(isTransient(new AppError('SSH_TIMEOUT', 'timed out after 8 s waiting for the SSH connection to x; the box may be down or overloaded'))).toBe(true);
    expect(isTransient(new SshTimeoutError('running', 'the command did not finish within 60 s on x and was stopped'))).toBe(false);
    expect(isTransient(new AppError('SSH_AUTH_FAILED', 'permission denied for user dev'))).toBe(false);
    expect(isTransient(new AppError('SSH_HOST_KEY_MISMATCH', 'the host key changed'))).toBe(false);
    expect(isTransient(new StepFailed('the box user needs passwordless sudo (NOPASSWD) for provisioning'))).toBe(false);
  });
});

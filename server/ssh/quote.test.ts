import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import { isAppError } from '../errors';
import { SshPool } from './pool';
import { isShellCommand, sh, shellQuote, type ShellCommand } from './quote';
import { LAB_START_TIMEOUT_MS, labTarget } from '../../testing/helpers/ssh';

describe('shellQuote', () => {
  it.each([
    ['', `''`],
    ['plain', `'plain'`],
    ['two words', `'two words'`],
    ["it's", `'it'\\''s'`],
    ["'", `''\\'''`],
    ['"double"', `'"double"'`],
    ['$HOME ${x} $(id)', `'$HOME \${x} $(id)'`],
    ['`id`', "'`id`'"],
    ['back\\slash\\', `'back\\slash\\'`],
    ['line1\nline2\r\n', `'line1\nline2\r\n'`],
    ['*.txt ?[a-z]', `'*.txt ?[a-z]'`],
    ['-rf', `'-rf'`],
    ['--help', `'--help'`],
    ['héllo wörld 日本 😀', `'héllo wörld 日本 😀'`],
    ['a;b|c&d>e<f', `'a;b|c&d>e<f'`],
    ['~user', `'~user'`],
  ])('quotes %j', (value, expected) => {
    expect(shellQuote(value)).toBe(expected);
  });

  it('refuses NUL bytes with BAD_INPUT', () => {
    expect(() => shellQuote('a\0b')).toThrowError(/NUL byte/);
    try {
      shellQuote('\0');
    } catch (error) {
      expect(isAppError(error, 'BAD_INPUT')).toBe(true);
    }
  });

  it('refuses unpaired surrogates, which UTF-8 cannot carry', () => {
    expect(() => shellQuote('a\uD800b')).toThrowError(/unpaired surrogate/);
    expect(shellQuote('\uD83D\uDE00')).toBe(`'😀'`);
  });
});

describe('sh template', () => {
  it('quotes every interpolated value and keeps the literal parts', () => {
    const path = "/tmp/it's here";
    expect(sh`ls -la -- ${path} 2>&1`.text).toBe(`ls -la -- '/tmp/it'\\''s here' 2>&1`);
  });

  it('turns arrays into separate quoted words, and an empty array into nothing', () => {
    expect(sh`rm -- ${['a b', 'c', 7]}`.text).toBe(`rm -- 'a b' 'c' '7'`);
    expect(sh`ls ${[]}`.text).toBe('ls ');
  });

  it('embeds ShellCommands verbatim and their text as one argument', () => {
    const inner = sh`echo ${'$HOME'}`;
    expect(sh`${inner} && ${sh.raw('true')}`.text).toBe(`echo '$HOME' && true`);
    expect(sh`sudo sh -c ${inner.text}`.text).toBe(`sudo sh -c 'echo '\\''$HOME'\\'''`);
    expect(sh`echo ${[inner, 'x']}`.text).toBe(`echo echo '$HOME' 'x'`);
  });

  it('quotes numbers and rejects values that are not strings, numbers or commands', () => {
    expect(sh`head -n ${20}`.text).toBe(`head -n '20'`);
    expect(() => sh`echo ${Number.NaN}`).toThrowError(/not a finite number/);
    expect(() => sh`rm -rf ${undefined as unknown as string}`).toThrowError(/not a string, number, array or ShellCommand/);
    expect(() => sh`echo ${{ toString: () => 'x' } as unknown as string}`).toThrowError(/not a string/);
  });

  it('brands its result so a raw string is not a ShellCommand', () => {
    expect(isShellCommand(sh`true`)).toBe(true);
    expect(isShellCommand(sh.raw('2>&1'))).toBe(true);
    expect(isShellCommand('true')).toBe(false);
    expect(isShellCommand({ text: 'true' })).toBe(false);
    expect(String(sh`echo ${'a'}`)).toBe(`echo 'a'`);
  });

  it('refuses NUL in raw fragments too', () => {
    expect(() => sh.raw('echo \0')).toThrowError(/NUL byte/);
  });
});

// Generated values: full Unicode code points, weighted towards what shells treat specially and control chars.
const specialUnit = fc.constantFrom(
  "'", '"', '\\', '$', '`', '!', '*', '?', '[', ']', '{', '}', '~', '#', '&', '|', ';', '<', '>', '(', ')',
  ' ', '\t', '\n', '\r', '-', '--', '=', '%', '\\n', "'\\''", '\x01', '\x07', '\x1b', '\x7f', '\u0085', '\u00a0',
  '\u2028', '\ufeff', 'é', '日', '😀', '\u{10ffff}',
);
const controlUnit = fc.integer({ min: 1, max: 31 }).map((code) => String.fromCharCode(code));
const anyCodePoint = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((s) => s !== '\0');
const shellValue = fc.string({ unit: fc.oneof(anyCodePoint, specialUnit, controlUnit), maxLength: 40 });
const shellValues = fc.array(shellValue, { minLength: 1, maxLength: 150 });

/** Prints each value followed by a NUL byte, which no value contains, so the output splits back exactly. */
function echoBack(values: string[]): ShellCommand {
  return sh`printf ${'%s\\0'} ${values}`;
}

function splitBack(stdout: string): string[] {
  expect(stdout.endsWith('\0')).toBe(true);
  return stdout.slice(0, -1).split('\0');
}

function runLocal(shell: string, command: ShellCommand): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(shell, ['-c', command.text], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${shell} failed: ${error.message} ${stderr.toString()}`));
      else resolve(stdout.toString('utf8'));
    });
  });
}

const localShells = ['/bin/sh', '/usr/bin/dash', '/bin/bash', '/usr/bin/zsh'].filter((shell) => existsSync(shell));

describe.each(localShells)('round trip through local %s', (shell) => {
  it('reads every generated value back byte for byte', async () => {
    await fc.assert(
      fc.asyncProperty(shellValues, async (values) => {
        expect(splitBack(await runLocal(shell, echoBack(values)))).toEqual(values);
      }),
      { numRuns: 60 },
    );
  });
});

describe('round trip through a real box over SSH', () => {
  let box: LabBox;
  const pool = new SshPool();

  beforeAll(async () => {
    box = await startLabBox({ namePrefix: 'boxyard-quote' });
    pool.start();
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    await pool.stop();
    await box?.remove();
  });

  it('the login shell reads every generated value back byte for byte', async () => {
    const target = labTarget(box);
    await fc.assert(
      fc.asyncProperty(shellValues, async (values) => {
        const result = await pool.exec('quote-box', target, echoBack(values), { timeoutMs: 10_000 });
        expect(result.stderr).toBe('');
        expect(splitBack(result.stdout)).toEqual(values);
      }),
      { numRuns: 100 },
    );
  }, 120_000);

  it('nested quoting (sh -c of a quoted command) survives two shells', async () => {
    const target = labTarget(box);
    await fc.assert(
      fc.asyncProperty(shellValues, async (values) => {
        const result = await pool.exec('quote-box', target, sh`sh -c ${echoBack(values).text}`, { timeoutMs: 10_000 });
        expect(splitBack(result.stdout)).toEqual(values);
      }),
      { numRuns: 40 },
    );
  }, 120_000);

  it('passes a leading-dash value to a command as an operand after --', async () => {
    const result = await pool.exec('quote-box', labTarget(box), sh`cd /tmp && touch -- ${'-rf'} && ls -- ${'-rf'}`, {
      timeoutMs: 10_000,
    });
    expect(result).toMatchObject({ code: 0, stdout: '-rf\n' });
  });
});

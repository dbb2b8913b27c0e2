import { AppError } from '../errors';

/**
 * Quoting for commands run by a remote POSIX shell (OpenSSH runs every exec through the user's login shell).
 *
 * Everything that reaches SshPool.exec is a ShellCommand, and the only ways to make one are the `sh` template
 * (which quotes every interpolated value), `sh.join` (of ShellCommands) and `sh.raw` (for literal fragments written
 * in our own source; server/ssh/raw-literals.test.ts fails on any other argument). So a
 * string from a user, a database row or a box can only ever reach a shell as one quoted word.
 */

// Symbol.for, not Symbol(): Next's bundle and the custom server load separate copies of this module, and a
// command built in one must still be recognised by the pool living in the other.
const SHELL_COMMAND: unique symbol = Symbol.for('boxyard.ShellCommand');

export interface ShellCommand {
  readonly [SHELL_COMMAND]: true;
  /** The command line exactly as the remote shell will read it. */
  readonly text: string;
}

/** A value `sh` accepts: strings and numbers become one quoted word each; a ShellCommand is embedded as is. */
export type ShellArg = string | number | ShellCommand;
export type ShellValue = ShellArg | readonly ShellArg[];

export function isShellCommand(value: unknown): value is ShellCommand {
  return typeof value === 'object' && value !== null && (value as Partial<ShellCommand>)[SHELL_COMMAND] === true;
}

function makeCommand(text: string): ShellCommand {
  return Object.freeze({ [SHELL_COMMAND]: true as const, text, toString: () => text });
}

const LONE_SURROGATE = /\p{Cs}/u;

function assertTransportable(value: string, what: string): void {
  // The exec request carries a C string, and a shell argument cannot hold NUL either.
  if (value.includes('\0')) {
    throw new AppError('BAD_INPUT', `${what} contains a NUL byte, which a shell command cannot carry`);
  }
  // A lone UTF-16 surrogate has no UTF-8 encoding: it would silently arrive as U+FFFD, i.e. a different value.
  if (LONE_SURROGATE.test(value)) {
    throw new AppError('BAD_INPUT', `${what} contains invalid Unicode (an unpaired surrogate)`);
  }
}

/**
 * One POSIX shell word that reads back as exactly `value`: single quotes keep every byte literal (including
 * newlines, `$`, backquotes, backslashes and globs), and an embedded `'` becomes `'\''`.
 * A leading dash is still a dash: put `--` before arguments that a command could take for options.
 */
export function shellQuote(value: string): string {
  assertTransportable(value, 'a shell argument');
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

function render(value: ShellValue | undefined, index: number): string {
  if (isShellCommand(value)) return value.text;
  if (typeof value === 'string') return shellQuote(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new AppError('BAD_INPUT', `sh: value #${index} is not a finite number`);
    return shellQuote(String(value));
  }
  if (Array.isArray(value)) return value.map((item: ShellArg) => render(item, index)).join(' ');
  // undefined/null/objects here are programming errors; refusing beats running `rm -rf undefined`.
  throw new AppError('BAD_INPUT', `sh: value #${index} is not a string, number, array or ShellCommand`, {
    internal: `got ${value === null ? 'null' : typeof value}`,
  });
}

/**
 * Tagged template for remote commands: sh`ls -la -- ${path}`. Every interpolated string or number becomes one
 * quoted word, an array becomes space-separated quoted words (nothing at all when empty), and an interpolated
 * ShellCommand is embedded verbatim so commands compose. To pass a whole command as ONE argument (sh -c, sudo
 * sh -c), interpolate its text: sh`sudo sh -c ${inner.text}`.
 */
function shTemplate(strings: TemplateStringsArray, ...values: ShellValue[]): ShellCommand {
  let text = strings[0];
  values.forEach((value, i) => {
    text += render(value, i) + strings[i + 1];
  });
  return makeCommand(text);
}

/**
 * A trusted literal fragment embedded without quoting, e.g. sh.raw('2>&1'). Only for constants written in our
 * source code: never pass it anything derived from input.
 */
function raw(trustedFragment: string): ShellCommand {
  assertTransportable(trustedFragment, 'a shell command');
  return makeCommand(trustedFragment);
}

/** Commands joined by a separator (e.g. sh`\n` for a script of lines): each part and the separator are already commands. */
function join(parts: readonly ShellCommand[], separator: ShellCommand): ShellCommand {
  if (![...parts, separator].every(isShellCommand)) throw new AppError('BAD_INPUT', 'sh.join: every part must be a ShellCommand');
  return makeCommand(parts.map((part) => part.text).join(separator.text));
}

export const sh = Object.assign(shTemplate, { raw, join });

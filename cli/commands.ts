import { parseArgs } from 'node:util';

/**
 * The CLI's commands, flags, help and bash completion, declared once per command.
 *
 * TEMPORARY: a thin layer over node:util parseArgs because no CLI library is installed in this checkout yet. It is
 * meant to be replaced by `commander` (15.1.0), keeping the same shape: one `defineCommand` per command, one list in
 * boxyard.ts. Exit codes: 2 for a usage error (unknown command or flag, missing value), 1 for a failure the command
 * reports (`CliError`), 0 otherwise.
 */

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** The value's placeholder in the help, e.g. PATH. */
  value?: string;
  help: string;
}

type OptionValues<Options extends Record<string, OptionSpec>> = {
  [Name in keyof Options]?: Options[Name]['type'] extends 'string' ? string : boolean;
};

export interface Command {
  name: string;
  /** The line after "Usage: boxyard ", e.g. `connect --url URL --token TOKEN [options]`. */
  usage: string;
  /** One line in the command list. */
  summary: string;
  /** Paragraphs between the usage line and the options in `boxyard COMMAND --help`. */
  description: string;
  options: Record<string, OptionSpec>;
  /** Positional arguments the command takes at most (0 when absent). */
  maxArguments?: number;
  run(values: Record<string, string | boolean | undefined>, args: string[]): Promise<void>;
}

/** One command; `run` gets its flags typed from `options`. */
export function defineCommand<Options extends Record<string, OptionSpec>>(command: {
  name: string;
  usage: string;
  summary: string;
  description: string;
  options: Options;
  maxArguments?: number;
  run(values: OptionValues<Options>, args: string[]): Promise<void>;
}): Command {
  return command as Command;
}

/** A bad command line: printed with the usage (runProgram appends it), exit code 2. */
export class UsageError extends Error {}

const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', help: 'this help' };

function optionLines(options: Record<string, OptionSpec>): string[] {
  const entries = Object.entries({ ...options, help: HELP_OPTION }).map(([name, option]) => [
    `${option.short ? `-${option.short}, ` : ''}--${name}${option.value ? ` ${option.value}` : ''}`,
    option.help,
  ]);
  const width = Math.max(...entries.map(([flags]) => flags!.length));
  return entries.map(([flags, help]) => `  ${flags!.padEnd(width)}  ${help}`);
}

export function commandHelp(command: Command): string {
  return [`Usage: boxyard ${command.usage}`, '', command.description, '', 'Options:', ...optionLines(command.options)].join('\n');
}

export function programHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    ...commands.map((command, i) => `${i ? '      ' : 'Usage:'} boxyard ${command.usage}`),
    '',
    'Commands:',
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    '`boxyard COMMAND --help` tells more about one command.',
  ].join('\n');
}

/** A bash completion script (zsh: `autoload bashcompinit && bashcompinit` first) for these commands and their flags. */
export function bashCompletion(commands: readonly Command[]): string {
  const flags = (command: Command) =>
    Object.entries({ ...command.options, help: HELP_OPTION })
      .map(([name]) => `--${name}`)
      .join(' ');
  return [
    '# boxyard bash completion: eval "$(boxyard completion)" in ~/.bashrc',
    '_boxyard() {',
    '  local current=${COMP_WORDS[COMP_CWORD]}',
    '  if [ "$COMP_CWORD" -eq 1 ]; then',
    `    COMPREPLY=($(compgen -W "${commands.map((command) => command.name).join(' ')}" -- "$current"))`,
    '    return',
    '  fi',
    '  case ${COMP_WORDS[1]} in',
    ...commands.map((command) => `    ${command.name}) COMPREPLY=($(compgen -W "${flags(command)}" -- "$current")) ;;`),
    '  esac',
    '}',
    'complete -o default -F _boxyard boxyard',
  ].join('\n');
}

/** Parses `argv` (without node and the script) and runs the named command; throws UsageError for a bad command line. */
export async function runProgram(commands: readonly Command[], argv: string[], print: (text: string) => void): Promise<void> {
  const [name, ...rest] = argv;
  const unknown = (what: string | undefined) => new UsageError(`unknown command ${JSON.stringify(what ?? '')}\n\n${programHelp(commands)}`);
  if (name === '--help' || name === '-h' || name === 'help') {
    const about = rest[0] === undefined ? undefined : commands.find((command) => command.name === rest[0]);
    if (rest[0] !== undefined && !about) throw unknown(rest[0]);
    return print(about ? commandHelp(about) : programHelp(commands));
  }
  const command = commands.find((candidate) => candidate.name === name);
  if (!command) throw unknown(name);
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: Object.fromEntries(
        Object.entries({ ...command.options, help: HELP_OPTION }).map(([flag, { type, short }]) => [flag, short ? { type, short } : { type }]),
      ),
    });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${commandHelp(command)}`);
  }
  if (parsed.values.help) return print(commandHelp(command));
  if (parsed.positionals.length > (command.maxArguments ?? 0)) {
    throw new UsageError(`${command.name}: unexpected argument ${JSON.stringify(parsed.positionals.join(' '))}\n\n${commandHelp(command)}`);
  }
  try {
    await command.run(parsed.values, parsed.positionals);
  } catch (error) {
    if (error instanceof UsageError) throw new UsageError(`${error.message}\n\n${commandHelp(command)}`);
    throw error;
  }
}

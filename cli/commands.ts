import { Command as Program, CommanderError, Option } from 'commander';

/**
 * The CLI's commands, flags, help and bash completion, declared once per command and parsed by commander. A command
 * is one `defineCommand`; boxyard.ts lists them. The help text is ours (one usage line per command, as the README
 * and the profile page show it), commander does the parsing, the `help` command and the errors. Exit codes: 2 for a
 * usage error (unknown command or flag, missing value), 1 for a failure the command reports (`CliError`), 0 otherwise.
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
  /** Any arguments after those, taken as they are (flags among them too), e.g. the remote command of `ssh NAME ls -l`. */
  passThrough?: boolean;
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
  passThrough?: boolean;
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

/** What commander says (`error: unknown option '--x'`), without its prefix, in the words our help uses. */
function usageMessage(error: CommanderError): string {
  return error.message.replace(/^error: /, '');
}

/** Parses `argv` (without node and the script) and runs the named command; throws UsageError for a bad command line. */
export async function runProgram(commands: readonly Command[], argv: string[], print: (text: string) => void): Promise<void> {
  // Positional options: a pass-through command's flags end at its first argument (`ssh NAME ls -l` keeps `-l`).
  const program = new Program('boxyard').enablePositionalOptions().exitOverride().configureOutput({ writeOut: (text) => print(text.trimEnd()), writeErr: () => {} });
  program.configureHelp({ formatHelp: () => programHelp(commands) });
  const unknown = (what: string | undefined) => new UsageError(`unknown command ${JSON.stringify(what ?? '')}\n\n${programHelp(commands)}`);
  if (!argv.length) throw unknown(undefined);
  let failedCommand: Command | null = null;

  for (const command of commands) {
    const sub = program.command(command.name).summary(command.summary).description(command.description).exitOverride();
    sub.configureHelp({ formatHelp: () => commandHelp(command) });
    const flags = Object.entries(command.options).map(([name, spec]) => {
      const option = new Option(`${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.type === 'string' ? ` <${spec.value ?? 'VALUE'}>` : ''}`, spec.help);
      sub.addOption(option);
      return { name, option };
    });
    for (let i = 0; i < (command.maxArguments ?? 0); i++) sub.argument(`[argument${i + 1}]`);
    if (command.passThrough) sub.argument('[arguments...]').passThroughOptions();
    sub.allowExcessArguments(false).action(async (...received: unknown[]) => {
      const parsed = sub.opts<Record<string, string | boolean | undefined>>();
      // A negated flag (`--no-docker-contexts`) is commander's `dockerContexts: false`; our commands read it by its name.
      const values = Object.fromEntries(flags.map(({ name, option }) => [name, option.negate ? parsed[option.attributeName()] === false : parsed[option.attributeName()]]));
      const count = (command.maxArguments ?? 0) + (command.passThrough ? 1 : 0);
      const args = received.slice(0, count).flat().filter((arg): arg is string => typeof arg === 'string');
      failedCommand = command;
      await command.run(values, args);
    });
  }

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.help') return;
      if (error.code === 'commander.unknownCommand') throw unknown(argv[0]);
      const command = commands.find((candidate) => candidate.name === argv[0]);
      throw new UsageError(`${usageMessage(error)}\n\n${command ? commandHelp(command) : programHelp(commands)}`);
    }
    if (error instanceof UsageError && failedCommand) throw new UsageError(`${error.message}\n\n${commandHelp(failedCommand)}`);
    throw error;
  }
}

import { spawn } from 'node:child_process';
import path from 'node:path';
import { homeOf } from '../server/connect/snippets';
import { defineCommand, UsageError } from './commands';
import { CliError } from './connect';
import { jsonOption, print, printJson } from './output';
import { readConnectEntry, sshConfigOption, sshConfigPath } from './ssh-entry';

/**
 * `boxyard open NAME [PATH]`: a folder of a box in VS Code Remote-SSH, which connects through the entry `boxyard
 * connect` wrote (so through the dashboard's tunnel, waking a sleeping box like ssh does).
 */

export interface OpenResult {
  box: string;
  path: string;
  /** The link that opens it in VS Code, for a machine where `code` is not on PATH. */
  url: string;
  /** `code` was run. */
  launched: boolean;
}

/** Runs VS Code's `code` launcher; false when it is not installed. */
function runCode(args: string[]): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn('code', args, { stdio: 'inherit' });
    child.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? resolve(false) : reject(error)));
    child.on('close', (code) => (code === 0 ? resolve(true) : reject(new CliError(`\`code ${args.join(' ')}\` failed (exit code ${code})`))));
  });
}

export const openCommand = defineCommand({
  name: 'open',
  usage: 'open [--ssh-config PATH] [--print] [--json] NAME [PATH]',
  summary: 'open a folder of a box in VS Code (Remote-SSH)',
  description: `Opens PATH on box NAME (default: the box user's home; a relative PATH is taken from there) in VS Code with
Remote-SSH, through the ssh entry \`boxyard connect\` wrote: \`code --remote ssh-remote+NAME PATH\`. With --print, or
when \`code\` is not on PATH, prints the vscode:// link that opens it instead.`,
  options: {
    'ssh-config': sshConfigOption,
    print: { type: 'boolean', help: 'print the vscode:// link, do not run `code`' },
    json: jsonOption,
  },
  maxArguments: 2,
  async run(values, [name, folder]) {
    if (!name) throw new UsageError('open needs the name of a box');
    const config = sshConfigPath(values['ssh-config']);
    const entry = await readConnectEntry(config, name);
    if (!entry) throw new CliError(`${config} has no entry for ${name} (VS Code connects through it): run \`boxyard connect\` first`);
    const remotePath = path.posix.resolve(homeOf(entry.user ?? 'root'), folder ?? '.');
    const url = `vscode://vscode-remote/ssh-remote+${name}${encodeURI(remotePath)}`;
    const launched = !values.print && (await runCode(['--remote', `ssh-remote+${name}`, remotePath]));
    if (!values.print && !launched) console.error("boxyard: VS Code's `code` command is not on PATH; open this link instead:");
    if (values.json) printJson({ box: name, path: remotePath, url, launched } satisfies OpenResult);
    else if (!launched) print(url);
  },
});

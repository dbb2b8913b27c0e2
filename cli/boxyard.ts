#!/usr/bin/env -S npx tsx
/**
 * The Boxyard CLI. Installed from a dashboard (`curl -fsSL <dashboard>/cli/install.sh | sh`: one bundled file built by
 * scripts/build-cli.mjs), or run with tsx from a checkout of this repository (`npx boxyard ...`).
 *
 *   boxyard connect --url URL --token TOKEN [--ssh-config PATH] [--identity-file PATH] [--no-docker-contexts] [--dry-run] [--json]
 *   boxyard version [--url URL] [--json]
 *   boxyard completion
 *
 * A command is one `defineCommand` in the list below.
 */
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_IDENTITY_FILE } from '../server/connect/snippets';
import { bashCompletion, defineCommand, runProgram, UsageError, type Command } from './commands';
import { CliError, connect } from './connect';
import { describeVersion, versionReport } from './version';

const print = (line: string) => console.log(line);
const printJson = (value: unknown) => console.log(JSON.stringify(value, null, 2));
const json = { type: 'boolean', help: 'print the result as JSON on stdout (for scripts)' } as const;

const connectCommand = defineCommand({
  name: 'connect',
  usage: 'connect --url URL --token TOKEN [options]',
  summary: 'write an ssh config entry and a docker context for every box you may reach',
  description: `Writes an ~/.ssh/config entry (Host NAME) for every box you may reach on the Boxyard dashboard at URL, between
"# BEGIN boxyard" and "# END boxyard" lines (nothing else in the file changes), and a docker context per box
(docker --context NAME ps). Make the token on the dashboard's profile page; BOXYARD_TOKEN works instead of --token.`,
  options: {
    url: { type: 'string', value: 'URL', help: 'the dashboard' },
    token: { type: 'string', value: 'TOKEN', help: 'an API token from your profile page (or BOXYARD_TOKEN)' },
    'ssh-config': { type: 'string', value: 'PATH', help: 'the ssh config to update (default ~/.ssh/config)' },
    'identity-file': { type: 'string', value: 'PATH', help: `your private key, for every entry (default ${DEFAULT_IDENTITY_FILE})` },
    'no-docker-contexts': { type: 'boolean', help: 'leave docker contexts alone' },
    'dry-run': { type: 'boolean', help: 'print what would change, change nothing' },
    json,
  },
  async run(values) {
    const token = values.token ?? process.env.BOXYARD_TOKEN;
    if (!values.url || !token) throw new UsageError('connect needs --url and --token (or BOXYARD_TOKEN)');
    // ssh reads a relative IdentityFile from its own working directory: make it absolute; `~/...` it expands itself.
    const identityFile = values['identity-file'];
    const result = await connect({
      url: values.url,
      token,
      sshConfigPath: path.resolve(values['ssh-config'] ?? path.join(os.homedir(), '.ssh', 'config')),
      identityFile: identityFile && !identityFile.startsWith('~') ? path.resolve(identityFile) : identityFile,
      dockerContexts: !values['no-docker-contexts'],
      dryRun: values['dry-run'] ?? false,
      print: values.json ? () => {} : print,
    });
    if (values.json) printJson(result);
  },
});

const versionCommand = defineCommand({
  name: 'version',
  usage: 'version [--url URL] [--json]',
  summary: "this CLI's version and build hash; whether the dashboard has a newer CLI",
  description: `Prints this CLI's version and build hash (the SHA-256 of its file). With --url (or BOXYARD_URL), asks the dashboard
for the hash of the CLI it serves and says when the dashboard has a newer one, with the line that installs it.`,
  options: {
    url: { type: 'string', value: 'URL', help: 'the dashboard to compare with (or BOXYARD_URL)' },
    json,
  },
  async run(values) {
    const report = await versionReport(values.url ?? process.env.BOXYARD_URL);
    if (values.json) printJson(report);
    else describeVersion(report).forEach(print);
  },
});

const completionCommand = defineCommand({
  name: 'completion',
  usage: 'completion',
  summary: 'print a bash completion script (eval "$(boxyard completion)" in ~/.bashrc)',
  description: 'Prints a bash completion script for these commands and their flags. zsh: run `autoload bashcompinit && bashcompinit` first.',
  options: {},
  async run() {
    print(bashCompletion(commands));
  },
});

const commands: Command[] = [connectCommand, versionCommand, completionCommand];

function fail(message: string, code: number): never {
  console.error(`boxyard: ${message}`);
  process.exit(code);
}

try {
  await runProgram(commands, process.argv.slice(2), print);
} catch (error) {
  if (error instanceof UsageError) fail(error.message, 2);
  if (error instanceof CliError) fail(error.message, 1);
  throw error;
}

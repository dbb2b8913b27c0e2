#!/usr/bin/env -S npx tsx
/**
 * The Boxyard CLI. Installed from a dashboard (`curl -fsSL <dashboard>/cli/install.sh | sh`: one bundled file built by
 * scripts/build-cli.mjs), or run with tsx from a checkout of this repository (`npx boxyard ...`).
 *
 *   boxyard connect [--url URL] [--token TOKEN] [--ssh-config PATH] [--identity-file PATH] [--no-docker-contexts] [--direct] [--dry-run] [--json]
 *   boxyard forward [--url URL] [--token TOKEN] [--json] NAME PORT|LOCAL:REMOTE ...
 *   boxyard proxy [--url URL] [--token TOKEN | --token-file PATH | --credentials FILE] [--port N] NAME
 *   boxyard login URL [--token TOKEN]
 *   boxyard logout
 *   boxyard ls [--url URL] [--token TOKEN] [--json]
 *   boxyard ssh [--url URL] [--token TOKEN] [--ssh-config PATH] NAME [COMMAND...]
 *   boxyard start|stop|suspend|resume [--url URL] [--token TOKEN] [--json] NAME
 *   boxyard open [--ssh-config PATH] [--print] [--json] NAME [PATH]
 *   boxyard version [--url URL] [--json]
 *   boxyard completion
 *
 * A command is one `defineCommand` in the list below.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_IDENTITY_FILE } from '../server/connect/snippets';
import { bashCompletion, defineCommand, runProgram, UsageError, type Command } from './commands';
import { CliError, connect } from './connect';
import { knownHostsFile } from './known-hosts';
import { resolveDashboard } from './credentials';
import { loginCommand, logoutCommand } from './login';
import { lifecycleCommands } from './lifecycle';
import { lsCommand } from './ls';
import { openCommand } from './open';
import { forwardCommand } from './forward';
import { jsonOption as json, print, printJson } from './output';
import { runProxy, thisCliCommand } from './proxy';
import { sshCommand } from './ssh';
import { describeVersion, versionReport } from './version';


const connectCommand = defineCommand({
  name: 'connect',
  usage: 'connect [--url URL --token TOKEN] [options]',
  summary: 'write an ssh config entry and a docker context for every box you may reach',
  description: `Writes an ~/.ssh/config entry (Host NAME) for every box you may reach on the Boxyard dashboard you signed in to
(\`boxyard login URL\`), between "# BEGIN boxyard" and "# END boxyard" lines (nothing else in the file changes), and a
docker context per box (docker --context NAME ps). Scripts pass --url and --token (or BOXYARD_URL and BOXYARD_TOKEN)
instead; such a token is saved as the login. The entries reach each box through the dashboard (ProxyCommand
\`boxyard proxy\`, which uses the saved login), so the laptop needs no route to the box; --direct writes entries to
the box's own address.`,
  options: {
    url: { type: 'string', value: 'URL', help: 'the dashboard (default: the one you signed in to, or BOXYARD_URL)' },
    token: { type: 'string', value: 'TOKEN', help: 'an API token from your profile page (default: the login, or BOXYARD_TOKEN)' },
    'ssh-config': { type: 'string', value: 'PATH', help: 'the ssh config to update (default ~/.ssh/config)' },
    'identity-file': { type: 'string', value: 'PATH', help: `your private key, for every entry (default ${DEFAULT_IDENTITY_FILE})` },
    'no-docker-contexts': { type: 'boolean', help: 'leave docker contexts alone' },
    direct: { type: 'boolean', help: "entries that connect to each box's address, not through the dashboard" },
    'dry-run': { type: 'boolean', help: 'print what would change, change nothing' },
    json,
  },
  async run(values) {
    const { url, token } = await resolveDashboard({ url: values.url, token: values.token });
    // ssh reads a relative IdentityFile from its own working directory: make it absolute; `~/...` it expands itself.
    const identityFile = values['identity-file'];
    const result = await connect({
      url,
      token,
      sshConfigPath: path.resolve(values['ssh-config'] ?? path.join(os.homedir(), '.ssh', 'config')),
      knownHostsPath: path.resolve(knownHostsFile()),
      identityFile: identityFile && !identityFile.startsWith('~') ? path.resolve(identityFile) : identityFile,
      dockerContexts: !values['no-docker-contexts'],
      proxy: values.direct ? null : { cli: thisCliCommand() },
      dryRun: values['dry-run'] ?? false,
      print: values.json ? () => {} : print,
    });
    if (values.json) printJson(result);
  },
});

const proxyCommand = defineCommand({
  name: 'proxy',
  usage: 'proxy [--url URL] [--token TOKEN | --token-file PATH | --credentials FILE] [--port N] NAME',
  summary: 'an ssh ProxyCommand: one TCP stream to a box through the dashboard (a sleeping box is woken first)',
  description: `An ssh ProxyCommand: one TCP stream to port N (22) of box NAME through the dashboard, on stdin and stdout; a box
that sleeps is woken first, with progress on stderr. The entries \`boxyard connect\` writes run it with the saved
login; scripts pass --token, --token-file or BOXYARD_TOKEN.`,
  options: {
    url: { type: 'string', value: 'URL', help: 'the dashboard (default: the one you signed in to, or BOXYARD_URL)' },
    token: { type: 'string', value: 'TOKEN', help: 'an API token (default: the login, or BOXYARD_TOKEN)' },
    'token-file': { type: 'string', value: 'PATH', help: 'read the token from this file' },
    credentials: { type: 'string', value: 'FILE', help: 'the saved login to take the token from (connect names it; default the XDG config folder)' },
    port: { type: 'string', value: 'N', help: "the box's port (default 22)" },
  },
  maxArguments: 1,
  async run(values, [box]) {
    if (!box) throw new UsageError('proxy needs one box name');
    const port = Number(values.port ?? 22);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port ${values.port} is not a port (1-65535)`);
    let token = values.token || process.env.BOXYARD_TOKEN;
    if (!token && values['token-file']) {
      try {
        token = readFileSync(values['token-file'], 'utf8').trim();
      } catch (error) {
        throw new CliError(`cannot read the token file ${values['token-file']} (${(error as NodeJS.ErrnoException).code})`);
      }
    }
    const dashboard = await resolveDashboard({ url: values.url, token, credentialsFile: values.credentials });
    process.exitCode = await runProxy({ ...dashboard, box, port, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });
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

const commands: Command[] = [connectCommand, proxyCommand, loginCommand, logoutCommand, lsCommand, sshCommand, forwardCommand, ...lifecycleCommands, openCommand, versionCommand, completionCommand];

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

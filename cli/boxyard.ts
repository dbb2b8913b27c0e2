#!/usr/bin/env -S npx tsx
/**
 * The Boxyard CLI, run with tsx from a checkout of this repository (`npm ci` once, then `npx boxyard ...`).
 *
 *   boxyard connect --url URL --token TOKEN [--ssh-config PATH] [--identity-file PATH] [--no-docker-contexts] [--direct] [--dry-run]
 *   boxyard proxy --url URL (--token TOKEN | --token-file PATH) [--port N] NAME
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { DEFAULT_IDENTITY_FILE } from '../server/connect/snippets';
import { CliError, connect } from './connect';
import { runProxy } from './proxy';

const usage = `Usage: boxyard connect --url URL --token TOKEN [options]

Writes an ~/.ssh/config entry (Host NAME) for every box you may reach on the Boxyard dashboard at URL, between
"# BEGIN boxyard" and "# END boxyard" lines (nothing else in the file changes), and a docker context per box
(docker --context NAME ps). Make the token on the dashboard's profile page; BOXYARD_TOKEN works instead of --token.
The entries reach each box through the dashboard (ProxyCommand \`boxyard proxy\`, the token kept in
${tokenFileShown()}), so the laptop needs no route to the box; --direct writes entries to the box's own address.

Options:
  --ssh-config PATH      the ssh config to update (default ~/.ssh/config)
  --identity-file PATH   your private key, for every entry (default ${DEFAULT_IDENTITY_FILE})
  --no-docker-contexts   leave docker contexts alone
  --direct               entries that connect to each box's address, not through the dashboard
  --dry-run              print what would change, change nothing
  -h, --help             this help

       boxyard proxy --url URL [--token TOKEN | --token-file PATH] [--port N] NAME

An ssh ProxyCommand: one TCP stream to port N (22) of box NAME through the dashboard, on stdin and stdout; a box
that sleeps is woken first.`;

/** Where \`connect\` keeps the token its ProxyCommand entries read. */
function defaultTokenFile(): string {
  return path.join(process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'boxyard', 'token');
}

function tokenFileShown(): string {
  return process.env.XDG_CONFIG_HOME ? '$XDG_CONFIG_HOME/boxyard/token' : '~/.config/boxyard/token';
}

function fail(message: string, code: number): never {
  console.error(`boxyard: ${message}`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        'ssh-config': { type: 'string' },
        'identity-file': { type: 'string' },
        'no-docker-contexts': { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        direct: { type: 'boolean', default: false },
        'token-file': { type: 'string' },
        port: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    fail(`${(error as Error).message}\n\n${usage}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help) return console.log(usage);

  // `boxyard proxy NAME` (cli/proxy.ts), the ProxyCommand of the entries `connect` writes.
  if (positionals[0] === 'proxy') {
    if (positionals.length !== 2 || !values.url) fail(`proxy needs --url and one box name\n\n${usage}`, 2);
    const port = Number(values.port ?? 22);
    if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`--port ${values.port} is not a port (1-65535)`, 2);
    let token = values.token ?? process.env.BOXYARD_TOKEN;
    if (!token && values['token-file']) {
      try {
        token = readFileSync(values['token-file'], 'utf8').trim();
      } catch (error) {
        fail(`cannot read the token file ${values['token-file']} (${(error as NodeJS.ErrnoException).code}); run \`boxyard connect\` again`, 1);
      }
    }
    if (!token) fail(`proxy needs --token, --token-file or BOXYARD_TOKEN\n\n${usage}`, 2);
    process.exit(await runProxy({ url: values.url, token, box: positionals[1]!, port, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }));
  }

  if (positionals.length !== 1 || positionals[0] !== 'connect') fail(`unknown command ${JSON.stringify(positionals.join(' '))}\n\n${usage}`, 2);
  const token = values.token ?? process.env.BOXYARD_TOKEN;
  if (!values.url || !token) fail(`connect needs --url and --token (or BOXYARD_TOKEN)\n\n${usage}`, 2);

  // ssh reads a relative IdentityFile from its own working directory: make it absolute; `~/...` it expands itself.
  const identityFile = values['identity-file'];
  try {
    await connect({
      url: values.url,
      token,
      sshConfigPath: path.resolve(values['ssh-config'] ?? path.join(os.homedir(), '.ssh', 'config')),
      identityFile: identityFile && !identityFile.startsWith('~') ? path.resolve(identityFile) : identityFile,
      dockerContexts: !values['no-docker-contexts'],
      // The ProxyCommand runs this very CLI the way it runs now (node, its loader flags under tsx, the script).
      proxy: values.direct ? null : { cli: [process.execPath, ...process.execArgv, path.resolve(process.argv[1]!)], tokenFile: defaultTokenFile() },
      dryRun: values['dry-run'],
      print: (line) => console.log(line),
    });
  } catch (error) {
    if (error instanceof CliError) fail(error.message, 1);
    throw error;
  }
}

await main(process.argv.slice(2));

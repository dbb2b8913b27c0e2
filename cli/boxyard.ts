#!/usr/bin/env -S npx tsx
/**
 * The Boxyard CLI, run with tsx from a checkout of this repository (`npm ci` once, then `npx boxyard ...`).
 *
 *   boxyard connect --url URL --token TOKEN [--ssh-config PATH] [--identity-file PATH] [--no-docker-contexts] [--dry-run]
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_IDENTITY_FILE } from '../server/connect/snippets';
import { CliError, connect } from './connect';

const usage = `Usage: boxyard connect --url URL --token TOKEN [options]

Writes an ~/.ssh/config entry (Host NAME) for every box you may reach on the Boxyard dashboard at URL, between
"# BEGIN boxyard" and "# END boxyard" lines (nothing else in the file changes), and a docker context per box
(docker --context NAME ps). Make the token on the dashboard's profile page; BOXYARD_TOKEN works instead of --token.

Options:
  --ssh-config PATH      the ssh config to update (default ~/.ssh/config)
  --identity-file PATH   your private key, for every entry (default ${DEFAULT_IDENTITY_FILE})
  --no-docker-contexts   leave docker contexts alone
  --dry-run              print what would change, change nothing
  -h, --help             this help`;

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
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    fail(`${(error as Error).message}\n\n${usage}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help) return console.log(usage);
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
      dryRun: values['dry-run'],
      print: (line) => console.log(line),
    });
  } catch (error) {
    if (error instanceof CliError) fail(error.message, 1);
    throw error;
  }
}

await main(process.argv.slice(2));

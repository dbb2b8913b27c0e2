import { spawn } from 'node:child_process';
import os from 'node:os';
import { proxyCommandLine } from '../server/connect/snippets';
import { defineCommand, UsageError } from './commands';
import { CliError, fetchBoxes, writeKnownHosts } from './connect';
import { dashboardOptions, noSuchBox } from './dashboard-api';
import { resolveDashboard } from './credentials';
import { knownHostsFile } from './known-hosts';
import { thisCliCommand } from './proxy';
import { readConnectEntry, sshConfigOption, sshConfigPath } from './ssh-entry';

/**
 * `boxyard ssh NAME [COMMAND...]`: the real OpenSSH ssh to a box. Through the entry `boxyard connect` wrote when there
 * is one (its ProxyCommand, user, key and control master); otherwise through `boxyard proxy` given to ssh as its
 * ProxyCommand, as the box's user from the dashboard, checking the box's key against the pin the dashboard holds
 * (the managed known_hosts, refreshed first, with StrictHostKeyChecking yes, as connect's entries do). Either way a
 * sleeping VM box is woken first by the proxy.
 */

/** Runs ssh with the terminal as its own; resolves with its exit code (a signal counts as 128 + its number, as in a shell). */
function runSsh(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', args, { stdio: 'inherit', env });
    // Ctrl-C reaches ssh itself (same process group); this process waits for ssh's own exit code.
    const ignore = () => {};
    process.on('SIGINT', ignore);
    child.on('error', (error: NodeJS.ErrnoException) => {
      process.off('SIGINT', ignore);
      reject(error.code === 'ENOENT' ? new CliError("OpenSSH's ssh is not installed (or not on PATH); install it and run this again") : error);
    });
    child.on('close', (code, signal) => {
      process.off('SIGINT', ignore);
      resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0));
    });
  });
}

export const sshCommand = defineCommand({
  name: 'ssh',
  usage: 'ssh [--url URL] [--token TOKEN] [--ssh-config PATH] NAME [COMMAND...]',
  summary: "ssh to a box through the dashboard (a sleeping box is woken first); exits with the remote command's code",
  description: `Runs OpenSSH's ssh to box NAME: through the entry \`boxyard connect\` wrote (Host NAME) when there is one,
otherwise through \`boxyard proxy\` as its ProxyCommand, as the box's user. A VM box that sleeps is woken first, with
progress on stderr. Everything after NAME goes to ssh as the remote command, flags too (\`boxyard ssh web ls -l\`).
Exit code: the remote command's; 255 when ssh itself fails (as ssh); 1 when boxyard cannot start it (unknown box,
ssh not installed); 2 for a bad command line.`,
  options: { ...dashboardOptions, 'ssh-config': sshConfigOption },
  maxArguments: 1,
  passThrough: true,
  async run(values, [name, ...command]) {
    if (!name) throw new UsageError('ssh needs the name of a box');
    const config = sshConfigPath(values['ssh-config']);
    // -F only when asked: otherwise ssh reads its usual files (also /etc/ssh/ssh_config).
    const configArgs = values['ssh-config'] ? ['-F', config] : [];
    if (await readConnectEntry(config, name)) {
      process.exitCode = await runSsh([...configArgs, name, ...command], process.env);
      return;
    }
    // One request: the CLI's box list has the box's user and its pinned host key.
    const dashboard = await resolveDashboard(values);
    const { boxes } = await fetchBoxes(dashboard.url, dashboard.token);
    const box = boxes.find((candidate) => candidate.name === name);
    if (!box) throw noSuchBox(dashboard.url, name);
    if (!box.hostKey) {
      throw new CliError(`no host key is pinned yet for ${box.name} (the dashboard has not connected to it); open it on the dashboard once, then try again`);
    }
    const knownHosts = knownHostsFile();
    await writeKnownHosts(knownHosts, dashboard.url, boxes);
    const hostKey = ['-o', `HostKeyAlias=${box.name}`, '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes'];
    // The token reaches the proxy in ssh's environment, never on a command line (`ps` shows those to everyone).
    const proxy = proxyCommandLine(thisCliCommand(), dashboard.url, null);
    process.exitCode = await runSsh([...configArgs, '-o', `ProxyCommand=${proxy}`, '-o', `User=${box.user}`, ...hostKey, name, ...command], {
      ...process.env,
      BOXYARD_TOKEN: dashboard.token,
    });
  },
});

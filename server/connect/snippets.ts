/**
 * What a developer pastes on their laptop to reach a box: an ~/.ssh/config entry, then everything else goes through
 * that entry's name (docker contexts, DOCKER_HOST, VS Code, JetBrains Gateway). Pure: used by the connect panel (via
 * tRPC) and by the CLI, which writes the same ssh config entries itself.
 */

export interface ConnectBox {
  /** Box names are DNS-label-like (lib/validation.ts), so they work unchanged as ssh Host aliases and docker context names. */
  name: string;
  host: string;
  port: number;
  user: string;
}

/** A placeholder: the developer's own private key, whose public half they added on their profile. */
export const DEFAULT_IDENTITY_FILE = '~/.ssh/id_ed25519';

/**
 * One ssh_config value. Whitespace, quotes, "#" or control characters could end the value and smuggle in another
 * option (a ProxyCommand runs anything): such a value is refused rather than escaped.
 */
function configValue(what: string, value: string | number): string {
  const text = String(value);
  if (text === '' || /[\s"'#\\\p{Cc}]/u.test(text)) throw new Error(`the ${what} ${JSON.stringify(text)} cannot go into an ssh config`);
  return text;
}

/** A path may hold spaces (quoted), never a quote or a line break. */
function configPath(what: string, path: string): string {
  if (path === '' || /["\p{Cc}]/u.test(path)) throw new Error(`the ${what} ${JSON.stringify(path)} cannot go into an ssh config`);
  return /\s/.test(path) ? `"${path}"` : path;
}

/**
 * One word of a ProxyCommand, which ssh hands to a shell after expanding its %-tokens: only characters that mean
 * nothing to either are allowed (a space, quote, `;`, `$` or `%` is refused rather than escaped).
 */
function commandWord(word: string): string {
  if (!/^[A-Za-z0-9_@+=:,./-]+$/.test(word)) throw new Error(`${JSON.stringify(word)} cannot go into an ssh ProxyCommand (it has a space or a character the shell or ssh would interpret)`);
  return word;
}

/**
 * `ProxyCommand` through the dashboard's tunnel: `cli` is how to run the Boxyard CLI (e.g. ["/usr/bin/node",
 * "/home/me/.local/bin/boxyard"]), `credentialsFile` the saved login it takes the token from (named, so an editor
 * started without the shell's XDG_CONFIG_HOME finds it), `%n` the alias ssh was given, i.e. the box's name. A null
 * `credentialsFile`: the proxy reads BOXYARD_TOKEN from the environment ssh gives it (`boxyard ssh` without an entry).
 */
export function proxyCommandLine(cli: readonly string[], dashboardUrl: string, credentialsFile: string | null): string {
  const credentials = credentialsFile === null ? [] : ['--credentials', credentialsFile];
  return [...cli, 'proxy', '--url', dashboardUrl, ...credentials].map(commandWord).join(' ') + ' %n';
}

/**
 * The ~/.ssh/config entry for a box, as lines. The control master keeps one SSH connection open for 10 minutes, so
 * docker-over-ssh (which runs a new ssh per docker command) and VS Code reuse it instead of logging in each time.
 * With a `proxyCommand` (proxyCommandLine) the entry reaches the box through the dashboard and names no address:
 * the laptop needs no route to the box. Without one it is a direct entry (HostName and Port of the box).
 * With a `knownHostsFile` (the CLI's, holding the keys the dashboard pinned) ssh checks the box's key against that
 * file only, under the box's name whatever the route, and refuses any other key instead of trusting it on first use.
 */
export function sshConfigLines(box: ConnectBox, identityFile: string = DEFAULT_IDENTITY_FILE, proxyCommand?: string, knownHostsFile?: string): string[] {
  const route = proxyCommand
    ? [`  ProxyCommand ${proxyCommand}`]
    : [`  HostName ${configValue('host', box.host)}`, `  Port ${configValue('port', box.port)}`];
  if (proxyCommand && /[\p{Cc}]/u.test(proxyCommand)) throw new Error('a ProxyCommand cannot hold control characters');
  return [
    `Host ${configValue('box name', box.name)}`,
    ...route,
    `  User ${configValue('user', box.user)}`,
    `  IdentityFile ${configPath('identity file', identityFile)}`,
    ...(knownHostsFile ? knownHostsLines(box, knownHostsFile) : []),
    '  ServerAliveInterval 30',
    '  ControlMaster auto',
    '  ControlPath ~/.ssh/boxyard-%r@%h:%p',
    '  ControlPersist 10m',
  ];
}

function knownHostsLines(box: ConnectBox, knownHostsFile: string): string[] {
  return [
    `  HostKeyAlias ${configValue('box name', box.name)}`,
    `  UserKnownHostsFile ${configPath('known_hosts file', knownHostsFile)}`,
    '  StrictHostKeyChecking yes',
  ];
}

/** The home folder of `user` on a box, where VS Code opens by default. */
export function homeOf(user: string): string {
  return user === 'root' ? '/root' : `/home/${user}`;
}

export interface ConnectSnippets {
  sshConfig: string;
  dockerContext: string;
  dockerHost: string;
  vscodeRemoteUrl: string;
  vscodeDockerSetting: string;
  jetbrainsGateway: string;
}

export function connectSnippets(box: ConnectBox): ConnectSnippets {
  const alias = configValue('box name', box.name);
  return {
    sshConfig: sshConfigLines(box).join('\n'),
    dockerContext: `docker context create ${alias} --docker "host=ssh://${alias}"`,
    dockerHost: `DOCKER_HOST=ssh://${alias}`,
    vscodeRemoteUrl: `vscode://vscode-remote/ssh-remote+${alias}${homeOf(box.user)}`,
    vscodeDockerSetting: `"docker.host": "ssh://${alias}"`,
    jetbrainsGateway: `JetBrains Gateway > SSH > New Connection: Username ${box.user}, Host ${box.host}, Port ${box.port}, authenticate with your key pair.`,
  };
}

/** The CLI command that writes every box's entry and docker context at once; the token comes from the profile page. */
export function cliConnectCommand(dashboardUrl: string, token = '<token>'): string {
  return `boxyard connect --url ${dashboardUrl} --token ${token}`;
}

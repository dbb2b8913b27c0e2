import { sh, type ShellCommand } from '../ssh/quote';

/** What provisioning needs to know about a box: distribution, package manager, init system, whether it logs in as root. */

export type PackageManager = 'apt' | 'dnf' | 'apk';
export type InitSystem = 'systemd' | 'openrc' | 'sysv' | 'none';

export interface Platform {
  /** os-release ID, e.g. "debian" */
  distro: string;
  /** os-release PRETTY_NAME, for messages */
  prettyName: string;
  /** os-release VERSION_CODENAME ("bookworm"); Docker's apt repository is per codename. Empty when absent. */
  codename: string;
  packageManager: PackageManager;
  init: InitSystem;
  /** The SSH user is root: commands need no sudo. */
  root: boolean;
}

const packageManagers: Record<string, PackageManager> = {
  debian: 'apt',
  ubuntu: 'apt',
  fedora: 'dnf',
  rhel: 'dnf',
  centos: 'dnf',
  rocky: 'dnf',
  almalinux: 'dnf',
  alpine: 'apk',
};

const supportedDistributions = Object.keys(packageManagers);

/**
 * One command for all facts: /etc/os-release as is (KEY=value lines), then our own KEY=value lines. PID 1's name tells
 * the init system: a container's PID 1 (tini, dumb-init, a shell) starts no services.
 */
export const probePlatformCommand: ShellCommand = sh.raw(
  [
    'cat /etc/os-release 2>/dev/null',
    'echo',
    'echo "BOXYARD_PID1=$(cat /proc/1/comm 2>/dev/null)"',
    'echo "BOXYARD_UID=$(id -u)"',
    'echo "BOXYARD_OPENRC=$(command -v rc-service)"',
    'echo "BOXYARD_SERVICE=$(command -v service)"',
  ].join('; '),
);

/** KEY=value lines, values optionally in double or single quotes (os-release(5) syntax, enough of it). */
export function parseKeyValues(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!match) continue;
    let value = match[2]!;
    if (/^".*"$/.test(value)) value = value.slice(1, -1).replace(/\\([$"`\\])/g, '$1');
    else if (/^'.*'$/.test(value)) value = value.slice(1, -1);
    values.set(match[1]!, value);
  }
  return values;
}

function initSystem(pid1: string, hasOpenrc: boolean, hasService: boolean): InitSystem {
  if (pid1 === 'systemd') return 'systemd';
  // A real init (sysvinit's or OpenRC's) as PID 1: its service tools work.
  if (pid1 === 'init' || pid1 === 'openrc-init') {
    if (hasOpenrc) return 'openrc';
    if (hasService) return 'sysv';
  }
  return 'none';
}

/** The platform, or a plain reason why Boxyard cannot provision this box. */
export function parsePlatform(probeOutput: string): { platform: Platform } | { unsupported: string } {
  const values = parseKeyValues(probeOutput);
  const distro = values.get('ID') ?? '';
  const prettyName = values.get('PRETTY_NAME') || distro;
  const packageManager = packageManagers[distro];
  if (!packageManager) {
    const what = distro ? `${prettyName} (ID=${distro})` : 'unknown (no /etc/os-release)';
    return { unsupported: `unsupported distribution ${what}: Boxyard provisions Docker on ${supportedDistributions.join(', ')}` };
  }
  return {
    platform: {
      distro,
      prettyName,
      codename: values.get('VERSION_CODENAME') ?? '',
      packageManager,
      init: initSystem(values.get('BOXYARD_PID1') ?? '', Boolean(values.get('BOXYARD_OPENRC')), Boolean(values.get('BOXYARD_SERVICE'))),
      root: values.get('BOXYARD_UID') === '0',
    },
  };
}

/** Runs a command as root: through `sudo -n` (never prompts) unless the SSH user is root already. */
export function asRoot(platform: Pick<Platform, 'root'>, command: ShellCommand): ShellCommand {
  return platform.root ? sh`sh -c ${command.text}` : sh`sudo -n sh -c ${command.text}`;
}

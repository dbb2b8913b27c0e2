import { sh, type ShellCommand } from '../ssh/quote';
import { asRoot, type Platform } from './platform';

/**
 * The commands of the Docker recipe, as pure functions of the platform: unit-tested per distribution, run for real on
 * Debian in the lab. Every command that changes the box runs as root (platform.ts asRoot); values are quoted by `sh`.
 */

export type DockerSource = 'distro' | 'docker-ce';

/**
 * How long a step waits for another apt/dpkg (unattended-upgrades, a user, an earlier attempt of the same step still
 * finishing on the box) to release apt's locks: apt itself waits this long for dpkg's lock (DPkg::Lock::Timeout), and
 * the recipe as long for the package lists' lock, which apt-get update does not wait for.
 */
export const APT_LOCK_TIMEOUT_S = 120;
export const DAEMON_JSON = '/etc/docker/daemon.json';
/** dockerd writes it at start-up, whatever started it; the no-init fallback also uses it to stop dockerd. */
const DOCKER_PID_FILE = '/var/run/docker.pid';
/** Where dockerd logs when we start it ourselves (boxes without an init system). */
const DOCKERD_LOG = '/var/log/dockerd.log';

const dockerCePackages = ['docker-ce', 'docker-ce-cli', 'containerd.io', 'docker-buildx-plugin', 'docker-compose-plugin'];

/** Docker's own repositories: RHEL has its own, its rebuilds (Rocky, Alma) use CentOS's. */
function dockerRepoDistro(distro: string): string {
  return distro === 'rocky' || distro === 'almalinux' ? 'centos' : distro;
}

/** Why this source cannot be installed on this platform, or null. Checked before anything changes on the box. */
export function sourceProblem(platform: Platform, source: DockerSource): string | null {
  if (platform.packageManager === 'apk' && source === 'docker-ce') {
    return "Docker does not publish docker-ce for Alpine; choose the distribution's package (docker)";
  }
  if (platform.packageManager === 'apt' && source === 'docker-ce' && !platform.codename) {
    return `${platform.prettyName} does not name its release (VERSION_CODENAME in /etc/os-release), which Docker's apt repository needs; choose the distribution's package (docker.io)`;
  }
  return null;
}

/** The engine package this source installs. */
export function enginePackage(platform: Platform, source: DockerSource): string {
  if (source === 'docker-ce') return 'docker-ce';
  return { apt: 'docker.io', dnf: 'moby-engine', apk: 'docker' }[platform.packageManager];
}

/** Prints the names of the Docker engine packages fully installed, one per line (none: empty output). */
export function installedEnginesCommand(platform: Platform): ShellCommand {
  switch (platform.packageManager) {
    case 'apt':
      // "ii" = installed and configured; a dpkg run cut short leaves "iU"/"iF", which must count as not installed.
      return sh.raw("dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n' docker.io docker-ce 2>/dev/null | awk '$2 == \"ii\" { print $1 }'");
    case 'dnf':
      return sh.raw("rpm -q --qf '%{NAME}\\n' docker-ce moby-engine | grep -v 'is not installed' || true");
    case 'apk':
      return sh.raw('apk info -e docker || true');
  }
}

/** How a failed command's output is explained: by the tool that printed it. */
export type OutputKind = 'apt' | 'dnf' | 'apk' | 'download';

export interface PlannedCommand {
  command: ShellCommand;
  timeoutMs: number;
  kind: OutputKind;
}

const UPDATE_TIMEOUT_MS = (APT_LOCK_TIMEOUT_S + 180) * 1000;
const INSTALL_TIMEOUT_MS = (APT_LOCK_TIMEOUT_S + 900) * 1000;
const DOWNLOAD_TIMEOUT_MS = 120_000;

/** -q: no progress bars in the log. The lock timeout makes apt wait for a running apt instead of failing at once. */
// A literal, not `${APT_LOCK_TIMEOUT_S}`: sh.raw takes constants only (server/ssh/raw-literals.test.ts); keep both at 120.
const APT_GET = sh.raw('DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=120');

function aptGet(platform: Platform, args: ShellCommand, timeoutMs: number): PlannedCommand {
  return {
    command: asRoot(platform, sh`${APT_GET} ${args}`),
    timeoutMs,
    kind: 'apt',
  };
}

/** The commands that install Docker, in order; each must succeed before the next. */
export function installDockerCommands(platform: Platform, source: DockerSource): PlannedCommand[] {
  const repo = `https://download.docker.com/linux/${dockerRepoDistro(platform.distro)}`;
  switch (platform.packageManager) {
    case 'apt': {
      const update = aptGet(platform, sh`update`, UPDATE_TIMEOUT_MS);
      if (source === 'distro') {
        // Without recommends (git, needrestart...), but with the two a working engine needs: AppArmor's parser on
        // kernels with AppArmor (Debian's and Ubuntu's), and CA certificates to pull images over TLS.
        return [update, aptGet(platform, sh`install --no-install-recommends ${['docker.io', 'apparmor', 'ca-certificates']}`, INSTALL_TIMEOUT_MS)];
      }
      const keyring = '/etc/apt/keyrings/docker.asc';
      return [
        update,
        aptGet(platform, sh`install --no-install-recommends ${['ca-certificates', 'curl']}`, INSTALL_TIMEOUT_MS),
        {
          command: asRoot(platform, sh`install -m 0755 -d /etc/apt/keyrings && curl -fsSL --retry 3 -o ${keyring} ${`${repo}/gpg`} && chmod a+r ${keyring}`),
          timeoutMs: DOWNLOAD_TIMEOUT_MS,
          kind: 'download',
        },
        {
          command: asRoot(
            platform,
            sh`printf 'deb [arch=%s signed-by=%s] %s %s stable\\n' "$(dpkg --print-architecture)" ${keyring} ${repo} ${platform.codename} > /etc/apt/sources.list.d/docker.list`,
          ),
          timeoutMs: 20_000,
          kind: 'apt',
        },
        update,
        aptGet(platform, sh`install ${dockerCePackages}`, INSTALL_TIMEOUT_MS),
      ];
    }
    case 'dnf': {
      const install = (packages: string[]): PlannedCommand => ({ command: asRoot(platform, sh`dnf -y install ${packages}`), timeoutMs: INSTALL_TIMEOUT_MS, kind: 'dnf' });
      if (source === 'distro') return [install(['moby-engine'])];
      return [
        {
          // The .repo file is fetched directly: `dnf config-manager` changed its syntax in dnf5 (Fedora 41).
          command: asRoot(platform, sh`curl -fsSL --retry 3 -o /etc/yum.repos.d/docker-ce.repo ${`${repo}/docker-ce.repo`}`),
          timeoutMs: DOWNLOAD_TIMEOUT_MS,
          kind: 'download',
        },
        install(dockerCePackages),
      ];
    }
    case 'apk':
      return [{ command: asRoot(platform, sh`apk add docker`), timeoutMs: INSTALL_TIMEOUT_MS, kind: 'apk' }];
  }
}

/** Finishes a dpkg run that was cut short (e.g. the SSH connection dropped mid-install); apt refuses to work until then. */
export function repairDpkgCommand(platform: Platform): PlannedCommand {
  return { command: asRoot(platform, sh`DEBIAN_FRONTEND=noninteractive dpkg --configure -a`), timeoutMs: INSTALL_TIMEOUT_MS, kind: 'apt' };
}

/** apt stopped because another apt or dpkg run holds one of its locks (the package lists' or dpkg's). */
export function aptLockBusy(output: string): boolean {
  return /Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock/i.test(output);
}

export function needsDpkgRepair(output: string): boolean {
  return /dpkg was interrupted/i.test(output);
}

/** " (host)" of the first line that says a host could not be reached, or "". */
function unreachableHost(output: string): string {
  const line = output.split('\n').find((candidate) => /fail|err|could not|couldn't|unable/i.test(candidate) && /resolv|connect|fetch|download|timed out/i.test(candidate));
  const host = line && /(?:resolving '|resolve host(?: name for)?:? |https?:\/\/)(?:https?:\/\/)?([a-z0-9-]+(?:\.[a-z0-9-]+)+)/i.exec(line)?.[1];
  return host ? ` (${host})` : '';
}

/** A plain explanation of a failed install command, from what the tool printed. */
export function explainFailure(kind: OutputKind, output: string, code: number | null): string {
  const mirror = unreachableHost(output);
  if (/No space left on device|You don't have enough free space|needs \S+ more space|disk space/i.test(output)) {
    return 'the box ran out of disk space while installing packages; free some space and run the job again';
  }
  switch (kind) {
    case 'apt': {
      if (aptLockBusy(output)) {
        return `another process holds the apt lock (unattended-upgrades or another apt run) and kept it for more than ${APT_LOCK_TIMEOUT_S} s; wait for it to finish and run the job again`;
      }
      if (/Temporary failure resolving|Could not resolve|Failed to fetch|Unable to connect to|Could not connect to|Network is unreachable|Connection timed out/i.test(output)) {
        return `apt could not reach the package mirror${mirror}; check the box's network, DNS and proxy settings`;
      }
      const missing = /Unable to locate package (\S+)|Package (\S+) has no installation candidate/i.exec(output);
      if (missing) return `the box's apt sources have no package ${missing[1] ?? missing[2]}; check /etc/apt/sources.list and /etc/apt/sources.list.d`;
      break;
    }
    case 'dnf': {
      const missing = /(?:No match for argument|Unable to find a match):? (\S+)/i.exec(output)?.[1];
      if (missing) {
        return `the box's dnf repositories have no package ${missing}${missing === 'moby-engine' ? " (RHEL and its rebuilds do not ship Docker: choose Docker's own repository, docker-ce)" : ''}`;
      }
      if (/Curl error|Cannot download|Failed to download metadata|Could not resolve host|Cannot find a valid baseurl/i.test(output)) {
        return `dnf could not reach its package mirror${mirror}; check the box's network, DNS and proxy settings`;
      }
      break;
    }
    case 'apk':
      if (/unable to select packages|no such package/i.test(output)) {
        return "Alpine's repositories on the box have no docker package: enable the community repository in /etc/apk/repositories";
      }
      if (/network error|temporary error|unable to fetch|DNS lookup error/i.test(output)) {
        return `apk could not reach its package mirror${mirror}; check the box's network, DNS and proxy settings`;
      }
      break;
    case 'download':
      return `could not download from download.docker.com${code === 6 ? ' (DNS lookup failed)' : ''}; check the box's network, DNS and proxy settings`;
  }
  return `the command failed with exit code ${code ?? 'unknown'}; its output is in the job log`;
}

/** Exit 0 when the Docker daemon answers (as root). */
export function daemonAnswersCommand(platform: Platform): ShellCommand {
  return asRoot(platform, sh`docker info --format '{{.ServerVersion}}'`);
}

/** Exit 0 when the daemon starts with the box: only init systems that start services know "enabled". */
export function daemonEnabledCommand(platform: Platform): ShellCommand | null {
  switch (platform.init) {
    case 'systemd':
      return asRoot(platform, sh`systemctl is-enabled docker.service`);
    case 'openrc':
      return asRoot(platform, sh`rc-update show default | grep -qw docker`);
    case 'sysv':
    case 'none':
      return null;
  }
}

/** Starts dockerd ourselves, detached from the SSH session (which waits for every holder of its stdout/stderr). */
const startDockerdInBackground = sh`nohup dockerd --pidfile ${DOCKER_PID_FILE} >>${DOCKERD_LOG} 2>&1 </dev/null &`;

/** Enables the daemon at boot where the init system knows that, and starts it. */
export function startDaemonCommand(platform: Platform): ShellCommand {
  switch (platform.init) {
    case 'systemd':
      return asRoot(platform, sh`systemctl enable --now docker.service`);
    case 'openrc':
      return asRoot(platform, sh`rc-update add docker default && rc-service docker start`);
    case 'sysv':
      return asRoot(platform, sh`if command -v update-rc.d >/dev/null; then update-rc.d docker defaults; fi; service docker start`);
    case 'none':
      // No init system (e.g. a container): nothing will start dockerd at boot; this is the last resort.
      return asRoot(platform, startDockerdInBackground);
  }
}

export function restartDaemonCommand(platform: Platform): ShellCommand {
  switch (platform.init) {
    case 'systemd':
      return asRoot(platform, sh`systemctl restart docker.service`);
    case 'openrc':
      return asRoot(platform, sh`rc-service docker restart`);
    case 'sysv':
      return asRoot(platform, sh`service docker restart`);
    case 'none':
      return asRoot(
        platform,
        sh`if [ -s ${DOCKER_PID_FILE} ]; then pid=$(cat ${DOCKER_PID_FILE}); kill "$pid" 2>/dev/null; for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done; fi; ${startDockerdInBackground}`,
      );
  }
}

/** Waits up to 30 s for the daemon to answer; the last try's error is the output when it does not. */
export function waitForDaemonCommand(platform: Platform): ShellCommand {
  return asRoot(platform, sh`for _ in $(seq 60); do docker info >/dev/null 2>&1 && exit 0; sleep 0.5; done; docker info --format '{{.ServerVersion}}'`);
}

/** The daemon's last log lines, to show why it did not start. */
export function daemonLogCommand(platform: Platform): ShellCommand {
  switch (platform.init) {
    case 'systemd':
      return asRoot(platform, sh`journalctl -u docker.service --no-pager -n 20`);
    case 'none':
      return asRoot(platform, sh`tail -n 20 ${DOCKERD_LOG}`);
    case 'openrc':
    case 'sysv':
      return asRoot(platform, sh`tail -n 20 /var/log/docker.log`);
  }
}

/** Exit 3 when there is no daemon.json; else its content. */
export function readDaemonJsonCommand(platform: Platform): ShellCommand {
  return asRoot(platform, sh`test -e ${DAEMON_JSON} || exit 3; cat ${DAEMON_JSON}`);
}

/** Writes daemon.json through a temporary file and a rename, so dockerd never reads half a file. */
export function writeDaemonJsonCommand(platform: Platform, content: string): ShellCommand {
  const temporary = `${DAEMON_JSON}.boxyard-tmp`;
  return asRoot(platform, sh`mkdir -p /etc/docker && printf '%s' ${content} > ${temporary} && mv ${temporary} ${DAEMON_JSON}`);
}

export function removeDaemonJsonCommand(platform: Platform): ShellCommand {
  return asRoot(platform, sh`rm -f ${DAEMON_JSON}`);
}

/**
 * Prints "stale" when daemon.json changed after the running dockerd started (its pid file is written at start-up):
 * a restart that was interrupted after the file was written is then still owed.
 */
export function daemonConfigStaleCommand(platform: Platform): ShellCommand {
  return asRoot(platform, sh`if [ -e ${DOCKER_PID_FILE} ] && [ ${DAEMON_JSON} -nt ${DOCKER_PID_FILE} ]; then echo stale; fi`);
}

/** The user's groups as a fresh login sees them (from the group database). */
export function userGroupsCommand(user: string): ShellCommand {
  return sh`id -nG -- ${user}`;
}

/** Creates the docker group if the package did not, and adds the user to it. */
export function addToDockerGroupCommand(platform: Platform, user: string): ShellCommand {
  if (platform.packageManager === 'apk') {
    // BusyBox: no groupadd/usermod.
    return asRoot(platform, sh`(getent group docker >/dev/null || addgroup -S docker) && addgroup ${user} docker`);
  }
  return asRoot(platform, sh`(getent group docker >/dev/null || groupadd --system docker) && usermod -aG docker ${user}`);
}

/**
 * `docker info` as the user in a new login. The dashboard's pooled SSH connection logged in before the user joined
 * the docker group, and every session on it keeps that login's groups, so a plain `docker info` would still be
 * refused. `su` from root builds the user's groups afresh from the group database, as the next SSH login will. Not
 * `sg docker` (BusyBox on Alpine has none), not `sudo -u USER` (sudoers may allow running commands as root only).
 */
export function dockerInfoAsUserCommand(platform: Platform, user: string): ShellCommand {
  return asRoot(platform, sh`su -s /bin/sh ${user} -c ${"docker info --format '{{.ServerVersion}}'"}`);
}

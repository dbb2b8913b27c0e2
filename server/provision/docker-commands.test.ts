import { describe, expect, it } from 'vitest';
import { sh, type ShellCommand } from '../ssh/quote';
import {
  addToDockerGroupCommand,
  aptLockBusy,
  daemonEnabledCommand,
  dockerInfoAsUserCommand,
  enginePackage,
  explainFailure,
  installDockerCommands,
  installedEnginesCommand,
  needsDpkgRepair,
  restartDaemonCommand,
  sourceProblem,
  startDaemonCommand,
} from './docker-commands';
import { asRoot, parseKeyValues, parsePlatform, type Platform } from './platform';

/** What the probe command prints on a box: its /etc/os-release, then our own lines. */
function probeOutput(osRelease: string, facts: { pid1: string; uid?: number; openrc?: boolean; service?: boolean }): string {
  return [
    osRelease.trim(),
    '',
    `BOXYARD_PID1=${facts.pid1}`,
    `BOXYARD_UID=${facts.uid ?? 1000}`,
    `BOXYARD_OPENRC=${facts.openrc ? '/sbin/rc-service' : ''}`,
    `BOXYARD_SERVICE=${facts.service ? '/usr/sbin/service' : ''}`,
  ].join('\n');
}

const osReleases = {
  debian: 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian',
  ubuntu: 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian',
  fedora: 'NAME="Fedora Linux"\nVERSION_ID=41\nID=fedora\nPRETTY_NAME="Fedora Linux 41 (Server Edition)"',
  rocky: 'NAME="Rocky Linux"\nVERSION_ID="9.4"\nID="rocky"\nID_LIKE="rhel centos fedora"\nPRETTY_NAME="Rocky Linux 9.4 (Blue Onyx)"',
  rhel: 'NAME="Red Hat Enterprise Linux"\nVERSION_ID="9.4"\nID="rhel"\nPRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"',
  alpine: 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"',
  arch: 'NAME="Arch Linux"\nPRETTY_NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling',
};

function platform(name: keyof typeof osReleases, facts: Parameters<typeof probeOutput>[1] = { pid1: 'systemd' }): Platform {
  const parsed = parsePlatform(probeOutput(osReleases[name], facts));
  if (!('platform' in parsed)) throw new Error(parsed.unsupported);
  return parsed.platform;
}

/** The command that runs as root, i.e. the one word after `sudo -n sh -c` (or `sh -c` for root), unquoted. */
function asRootInner(command: ShellCommand): string {
  const match = /^(?:sudo -n )?sh -c '(.*)'$/s.exec(command.text);
  if (!match) throw new Error(`not a root command: ${command.text}`);
  return match[1]!.replaceAll("'\\''", "'");
}

const installTexts = (p: Platform, source: 'distro' | 'docker-ce') => installDockerCommands(p, source).map((planned) => asRootInner(planned.command));

describe('platform detection from /etc/os-release and PID 1', () => {
  it('reads os-release values with or without quotes', () => {
    const values = parseKeyValues('ID=debian\nPRETTY_NAME="Debian \\"12\\""\nVERSION=\'12 (bookworm)\'\n# comment\nnot a line');
    expect(Object.fromEntries(values)).toEqual({ ID: 'debian', PRETTY_NAME: 'Debian "12"', VERSION: '12 (bookworm)' });
  });

  it('maps each supported distribution to its package manager', () => {
    expect(platform('debian')).toEqual({ distro: 'debian', prettyName: 'Debian GNU/Linux 12 (bookworm)', codename: 'bookworm', packageManager: 'apt', init: 'systemd', root: false });
    expect(platform('ubuntu').packageManager).toBe('apt');
    expect(platform('fedora').packageManager).toBe('dnf');
    expect(platform('rocky').packageManager).toBe('dnf');
    expect(platform('rhel').packageManager).toBe('dnf');
    expect(platform('alpine', { pid1: 'init', openrc: true })).toMatchObject({ packageManager: 'apk', init: 'openrc', codename: '' });
  });

  it('names an unsupported distribution in plain words', () => {
    expect(parsePlatform(probeOutput(osReleases.arch, { pid1: 'systemd' }))).toEqual({
      unsupported: 'unsupported distribution Arch Linux (ID=arch): Boxyard provisions Docker on debian, ubuntu, fedora, rhel, centos, rocky, almalinux, alpine',
    });
    expect(parsePlatform(probeOutput('', { pid1: 'systemd' }))).toMatchObject({ unsupported: expect.stringMatching(/^unsupported distribution unknown \(no \/etc\/os-release\)/) });
  });

  it('tells the init system from PID 1: a container PID 1 (tini) starts no services', () => {
    expect(platform('debian', { pid1: 'systemd', service: true }).init).toBe('systemd');
    expect(platform('debian', { pid1: 'init', service: true }).init).toBe('sysv');
    expect(platform('alpine', { pid1: 'init', openrc: true }).init).toBe('openrc');
    expect(platform('debian', { pid1: 'tini', service: true }).init).toBe('none');
    expect(platform('debian', { pid1: 'bash' }).init).toBe('none');
  });

  it('runs root commands through sudo -n, or directly when the SSH user is root', () => {
    expect(platform('fedora', { pid1: 'systemd', uid: 0 }).root).toBe(true);
    const command = sh`echo ${'x'}`;
    expect(asRoot({ root: false }, command).text).toBe(`sudo -n sh -c 'echo '\\''x'\\'''`);
    expect(asRoot({ root: true }, command).text).toBe(`sh -c 'echo '\\''x'\\'''`);
  });
});

describe('installing Docker, per distribution and source', () => {
  const aptGet = 'DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=120';

  it('Debian from the distribution: docker.io, waiting for the apt lock', () => {
    expect(installTexts(platform('debian'), 'distro')).toEqual([
      `${aptGet} update`,
      `${aptGet} install --no-install-recommends 'docker.io' 'apparmor' 'ca-certificates'`,
    ]);
    expect(enginePackage(platform('debian'), 'distro')).toBe('docker.io');
  });

  it("Ubuntu from Docker's repository: key, source line for its codename, docker-ce and plugins", () => {
    expect(installTexts(platform('ubuntu'), 'docker-ce')).toEqual([
      `${aptGet} update`,
      `${aptGet} install --no-install-recommends 'ca-certificates' 'curl'`,
      "install -m 0755 -d /etc/apt/keyrings && curl -fsSL --retry 3 -o '/etc/apt/keyrings/docker.asc' 'https://download.docker.com/linux/ubuntu/gpg' && chmod a+r '/etc/apt/keyrings/docker.asc'",
      `printf 'deb [arch=%s signed-by=%s] %s %s stable\\n' "$(dpkg --print-architecture)" '/etc/apt/keyrings/docker.asc' 'https://download.docker.com/linux/ubuntu' 'noble' > /etc/apt/sources.list.d/docker.list`,
      `${aptGet} update`,
      `${aptGet} install 'docker-ce' 'docker-ce-cli' 'containerd.io' 'docker-buildx-plugin' 'docker-compose-plugin'`,
    ]);
    expect(enginePackage(platform('ubuntu'), 'docker-ce')).toBe('docker-ce');
  });

  it('Fedora: moby-engine, or docker-ce from the .repo file Docker publishes', () => {
    expect(installTexts(platform('fedora', { pid1: 'systemd', uid: 0 }), 'distro')).toEqual(["dnf -y install 'moby-engine'"]);
    expect(installTexts(platform('fedora'), 'docker-ce')).toEqual([
      "curl -fsSL --retry 3 -o /etc/yum.repos.d/docker-ce.repo 'https://download.docker.com/linux/fedora/docker-ce.repo'",
      "dnf -y install 'docker-ce' 'docker-ce-cli' 'containerd.io' 'docker-buildx-plugin' 'docker-compose-plugin'",
    ]);
  });

  it("RHEL uses Docker's RHEL repository, Rocky and Alma its CentOS one", () => {
    expect(installTexts(platform('rhel'), 'docker-ce')[0]).toContain("'https://download.docker.com/linux/rhel/docker-ce.repo'");
    expect(installTexts(platform('rocky'), 'docker-ce')[0]).toContain("'https://download.docker.com/linux/centos/docker-ce.repo'");
  });

  it('Alpine: apk add docker; docker-ce is refused before anything changes', () => {
    const alpine = platform('alpine', { pid1: 'init', openrc: true });
    expect(installTexts(alpine, 'distro')).toEqual(['apk add docker']);
    expect(sourceProblem(alpine, 'docker-ce')).toBe("Docker does not publish docker-ce for Alpine; choose the distribution's package (docker)");
    expect(sourceProblem(alpine, 'distro')).toBeNull();
  });

  it("refuses Docker's apt repository when the release has no codename", () => {
    const sid = parsePlatform(probeOutput('ID=debian\nPRETTY_NAME="Debian GNU/Linux trixie/sid"', { pid1: 'systemd' }));
    expect('platform' in sid && sourceProblem(sid.platform, 'docker-ce')).toMatch(/^Debian GNU\/Linux trixie\/sid does not name its release/);
  });

  it('checks for an installed engine with the package database, so a half-installed package does not count', () => {
    expect(installedEnginesCommand(platform('debian')).text).toBe(`dpkg-query -W -f='\${Package} \${db:Status-Abbrev}\\n' docker.io docker-ce 2>/dev/null | awk '$2 == "ii" { print $1 }'`);
    expect(installedEnginesCommand(platform('rocky')).text).toBe("rpm -q --qf '%{NAME}\\n' docker-ce moby-engine | grep -v 'is not installed' || true");
    expect(installedEnginesCommand(platform('alpine', { pid1: 'init', openrc: true })).text).toBe('apk info -e docker || true');
  });
});

describe('running the daemon and the docker group, per init system and distribution', () => {
  it('starts and enables Docker with systemd, OpenRC or sysvinit, and in the background without an init system', () => {
    expect(asRootInner(startDaemonCommand(platform('debian')))).toBe('systemctl enable --now docker.service');
    expect(asRootInner(startDaemonCommand(platform('alpine', { pid1: 'init', openrc: true })))).toBe('rc-update add docker default && rc-service docker start');
    expect(asRootInner(startDaemonCommand(platform('debian', { pid1: 'init', service: true })))).toBe(
      'if command -v update-rc.d >/dev/null; then update-rc.d docker defaults; fi; service docker start',
    );
    expect(asRootInner(startDaemonCommand(platform('debian', { pid1: 'tini' })))).toBe("nohup dockerd --pidfile '/var/run/docker.pid' >>'/var/log/dockerd.log' 2>&1 </dev/null &");
  });

  it('knows "enabled at boot" only where an init system starts services', () => {
    expect(asRootInner(daemonEnabledCommand(platform('fedora'))!)).toBe('systemctl is-enabled docker.service');
    expect(asRootInner(daemonEnabledCommand(platform('alpine', { pid1: 'init', openrc: true }))!)).toBe('rc-update show default | grep -qw docker');
    expect(daemonEnabledCommand(platform('debian', { pid1: 'tini' }))).toBeNull();
  });

  it('restarts through the init system, or stops the pid-file dockerd and starts it again', () => {
    expect(asRootInner(restartDaemonCommand(platform('ubuntu')))).toBe('systemctl restart docker.service');
    expect(asRootInner(restartDaemonCommand(platform('alpine', { pid1: 'init', openrc: true })))).toBe('rc-service docker restart');
    expect(asRootInner(restartDaemonCommand(platform('debian', { pid1: 'tini' })))).toMatch(/^if \[ -s '\/var\/run\/docker\.pid' \]; then pid=\$\(cat '\/var\/run\/docker\.pid'\); kill "\$pid".*; nohup dockerd /);
  });

  it('adds the user to the docker group with usermod, or BusyBox addgroup on Alpine; checks access in a new login', () => {
    expect(asRootInner(addToDockerGroupCommand(platform('debian'), 'dev'))).toBe("(getent group docker >/dev/null || groupadd --system docker) && usermod -aG docker 'dev'");
    expect(asRootInner(addToDockerGroupCommand(platform('alpine', { pid1: 'init', openrc: true }), 'dev'))).toBe(
      "(getent group docker >/dev/null || addgroup -S docker) && addgroup 'dev' docker",
    );
    expect(asRootInner(dockerInfoAsUserCommand(platform('debian'), "o'brien"))).toBe(`su -s /bin/sh 'o'\\''brien' -c 'docker info --format '\\''{{.ServerVersion}}'\\'''`);
  });
});

describe('explaining a failed install in plain words', () => {
  it('apt: lock held, no space, unreachable mirror, unknown package', () => {
    expect(explainFailure('apt', 'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 812 (unattended-upgr)\nE: Unable to acquire the dpkg frontend lock', 100)).toBe(
      'another process holds the apt lock (unattended-upgrades or another apt run) and kept it for more than 120 s; wait for it to finish and run the job again',
    );
    // apt-get update on the package lists' lock, as a resumed job met its own cut-off earlier run in CI.
    const listsLock = 'Reading package lists...\nE: Could not get lock /var/lib/apt/lists/lock. It is held by process 265 (apt-get)\nE: Unable to lock directory /var/lib/apt/lists/';
    expect(aptLockBusy(listsLock)).toBe(true);
    expect(explainFailure('apt', listsLock, 100)).toMatch(/^another process holds the apt lock/);
    expect(aptLockBusy('E: Unable to locate package docker.io')).toBe(false);
    expect(explainFailure('apt', "dpkg: error processing archive /var/cache/apt/archives/docker.io.deb (--unpack):\n cannot copy extracted data for './usr/bin/dockerd' to '/usr/bin/dockerd.dpkg-new': failed to write (No space left on device)", 100)).toBe(
      'the box ran out of disk space while installing packages; free some space and run the job again',
    );
    expect(explainFailure('apt', "E: You don't have enough free space in /var/cache/apt/archives/.", 100)).toMatch(/^the box ran out of disk space/);
    const offline = [
      'Err:1 http://deb.debian.org/debian bookworm/main amd64 runc amd64 1.1.5+ds1-1+deb12u1',
      "  Temporary failure resolving 'deb.debian.org'",
      "E: Failed to fetch http://deb.debian.org/debian/pool/main/r/runc/runc_1.1.5+ds1-1+deb12u1_amd64.deb  Temporary failure resolving 'deb.debian.org'",
    ].join('\n');
    expect(explainFailure('apt', offline, 100)).toBe("apt could not reach the package mirror (deb.debian.org); check the box's network, DNS and proxy settings");
    expect(explainFailure('apt', 'E: Unable to locate package docker.io', 100)).toBe("the box's apt sources have no package docker.io; check /etc/apt/sources.list and /etc/apt/sources.list.d");
  });

  it('dnf, apk and downloads', () => {
    expect(explainFailure('dnf', 'No match for argument: moby-engine\nError: Unable to find a match: moby-engine', 1)).toBe(
      "the box's dnf repositories have no package moby-engine (RHEL and its rebuilds do not ship Docker: choose Docker's own repository, docker-ce)",
    );
    expect(explainFailure('dnf', "Curl error (6): Couldn't resolve host name for https://mirrors.fedoraproject.org/metalink?repo=fedora-41", 1)).toBe(
      "dnf could not reach its package mirror (mirrors.fedoraproject.org); check the box's network, DNS and proxy settings",
    );
    expect(explainFailure('apk', 'ERROR: unable to select packages:\n  docker (no such package):\n    required by: world[docker]', 1)).toBe(
      "Alpine's repositories on the box have no docker package: enable the community repository in /etc/apk/repositories",
    );
    expect(explainFailure('download', 'curl: (6) Could not resolve host: download.docker.com', 6)).toBe(
      "could not download from download.docker.com (DNS lookup failed); check the box's network, DNS and proxy settings",
    );
    expect(explainFailure('apt', 'something else entirely', 100)).toBe('the command failed with exit code 100; its output is in the job log');
  });

  it('recognises a dpkg run that was cut short', () => {
    expect(needsDpkgRepair("E: dpkg was interrupted, you must manually run 'dpkg --configure -a' to correct the problem.")).toBe(true);
    expect(needsDpkgRepair('E: Unable to locate package docker.io')).toBe(false);
  });
});

import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { untilAborted } from '../abort';
import { boxOf, probeStep, StepFailed, type Recipe, type Step, type StepContext } from '../jobs/recipe';
import type { ExecResult } from '../ssh/pool';
import { sh } from '../ssh/quote';
import { installDeveloperKeys } from './authorized-keys';
import { daemonJsonSettings, defaultDaemonJson, mergeDaemonJson, parseDaemonJson, renderDaemonJson, sameJson, type JsonObject } from './daemon-json';
import {
  addToDockerGroupCommand,
  aptLockBusy,
  APT_LOCK_TIMEOUT_S,
  daemonAnswersCommand,
  daemonConfigStaleCommand,
  daemonEnabledCommand,
  daemonLogCommand,
  dockerInfoAsUserCommand,
  enginePackage,
  explainFailure,
  installDockerCommands,
  installedEnginesCommand,
  needsDpkgRepair,
  readDaemonJsonCommand,
  removeDaemonJsonCommand,
  repairDpkgCommand,
  restartDaemonCommand,
  sourceProblem,
  startDaemonCommand,
  userGroupsCommand,
  waitForDaemonCommand,
  writeDaemonJsonCommand,
  type PlannedCommand,
} from './docker-commands';
import { parsePlatform, probePlatformCommand, type Platform } from './platform';

/** The Docker recipe: Docker Engine installed, running, configured, and usable by the box's SSH user. */

export const dockerParams = z.object({
  /** apt: docker.io or Docker's docker-ce; dnf: moby-engine or docker-ce; apk: docker (distro only). */
  dockerSource: z.enum(['distro', 'docker-ce']).default('distro'),
  /** Merged into the box's /etc/docker/daemon.json. */
  daemonJson: daemonJsonSettings.default(defaultDaemonJson),
});
export type DockerParams = z.output<typeof dockerParams>;

interface DockerState {
  platform: Platform;
}

type Ctx = StepContext<DockerParams, DockerState>;
type DockerStep = Step<DockerParams, DockerState>;

const QUICK_MS = 30_000;

function platformOf(ctx: Ctx): Platform {
  if (!ctx.state.platform) throw new Error('the platform is unknown: the detection step has not run');
  return ctx.state.platform;
}

function outputOf(result: ExecResult): string {
  return `${result.stdout}\n${result.stderr}`;
}

function lastLines(text: string, count: number): string {
  return text.trim().split('\n').slice(-count).join('\n');
}

const APT_LOCK_POLL_MS = 2_000;

/**
 * Runs an apt command again while another apt run holds apt's lock, for up to APT_LOCK_TIMEOUT_S. apt-get update
 * fails at once on the package lists' lock, and the usual holder is this very step's earlier attempt: a dashboard
 * stopped mid-step leaves its apt-get running on the box (closing the SSH channel does not stop it) until it finishes.
 */
async function execWaitingForAptLock(ctx: Ctx, planned: PlannedCommand): Promise<ExecResult> {
  const deadline = Date.now() + APT_LOCK_TIMEOUT_S * 1000;
  let result = await ctx.exec(planned.command, { timeoutMs: planned.timeoutMs });
  let waiting = false;
  while (result.code !== 0 && planned.kind === 'apt' && aptLockBusy(outputOf(result)) && Date.now() < deadline) {
    if (!waiting) await ctx.log(`Another apt run holds apt's lock: waiting up to ${APT_LOCK_TIMEOUT_S} s for it to finish.`, 'warn');
    waiting = true;
    await untilAborted(sleep(APT_LOCK_POLL_MS), ctx.signal);
    result = await ctx.exec(planned.command, { timeoutMs: planned.timeoutMs });
  }
  return result;
}

/**
 * Runs a planned command; a failure becomes a plain StepFailed. apt waits for another apt run's lock and first
 * finishes a dpkg run that was cut short.
 */
async function runPlanned(ctx: Ctx, planned: PlannedCommand): Promise<ExecResult> {
  let result = await execWaitingForAptLock(ctx, planned);
  if (result.code !== 0 && planned.kind === 'apt' && needsDpkgRepair(outputOf(result))) {
    await ctx.log('A previous dpkg run was cut short (e.g. the connection dropped mid-install): finishing it first.', 'warn');
    await runPlanned(ctx, repairDpkgCommand(platformOf(ctx)));
    result = await execWaitingForAptLock(ctx, planned);
  }
  if (result.code !== 0) throw new StepFailed(explainFailure(planned.kind, outputOf(result), result.code));
  return result;
}

const detect: DockerStep = probeStep('Detect the distribution', async (ctx) => {
  const result = await ctx.exec(probePlatformCommand, { timeoutMs: QUICK_MS });
  const parsed = parsePlatform(result.stdout);
  if ('unsupported' in parsed) throw new StepFailed(parsed.unsupported);
  const { platform } = parsed;
  const problem = sourceProblem(platform, ctx.params.dockerSource);
  if (problem) throw new StepFailed(problem);
  ctx.state.platform = platform;
  await ctx.log(`${platform.prettyName}: packages with ${platform.packageManager}, services with ${platform.init === 'none' ? 'no init system' : platform.init}${platform.root ? ', logged in as root' : ''}.`);
});

const sudo: DockerStep = probeStep('Check passwordless sudo', async (ctx) => {
  if (platformOf(ctx).root) return;
  const result = await ctx.exec(sh`sudo -n true`, { timeoutMs: QUICK_MS });
  if (result.code === 0) return;
  if (result.code === 127) {
    throw new StepFailed(`sudo is not installed on the box; install it and give the box user ${boxOf(ctx).sshUser} passwordless sudo (NOPASSWD) for provisioning`);
  }
  throw new StepFailed(`the box user ${boxOf(ctx).sshUser} needs passwordless sudo (NOPASSWD) for provisioning`);
});

async function installedEngines(ctx: Ctx): Promise<string[]> {
  const result = await ctx.exec(installedEnginesCommand(platformOf(ctx)), { timeoutMs: QUICK_MS });
  return result.stdout.split('\n').map((line) => line.trim()).filter(Boolean);
}

const install: DockerStep = {
  name: 'Install Docker',
  async check(ctx) {
    const installed = await installedEngines(ctx);
    if (installed.length === 0) return false;
    const wanted = enginePackage(platformOf(ctx), ctx.params.dockerSource);
    if (!installed.includes(wanted)) {
      await ctx.log(`Docker is already installed from ${installed.join(', ')}, not ${wanted}: kept as it is (switching packages would remove the engine in use).`, 'warn');
    }
    return true;
  },
  async apply(ctx) {
    for (const planned of installDockerCommands(platformOf(ctx), ctx.params.dockerSource)) await runPlanned(ctx, planned);
  },
  async verify(ctx) {
    if ((await installedEngines(ctx)).length === 0) throw new StepFailed('the package manager finished, yet no Docker engine package is installed; see the log');
  },
};

async function daemonAnswers(ctx: Ctx): Promise<boolean> {
  return (await ctx.exec(daemonAnswersCommand(platformOf(ctx)), { timeoutMs: QUICK_MS })).code === 0;
}

/** Waits for the daemon; when it does not come up, fails with its last log lines. */
async function awaitDaemon(ctx: Ctx, what: string): Promise<void> {
  const platform = platformOf(ctx);
  const waited = await ctx.exec(waitForDaemonCommand(platform), { timeoutMs: 60_000 });
  if (waited.code === 0) return;
  const daemonLog = await ctx.exec(daemonLogCommand(platform), { timeoutMs: QUICK_MS });
  throw new StepFailed(`${what}: the Docker daemon did not answer within 30 s. Its last log lines:\n${lastLines(outputOf(daemonLog), 10)}`);
}

const start: DockerStep = {
  name: 'Enable and start the Docker daemon',
  async check(ctx) {
    const enabled = daemonEnabledCommand(platformOf(ctx));
    if (!(await daemonAnswers(ctx))) return false;
    return !enabled || (await ctx.exec(enabled, { timeoutMs: QUICK_MS })).code === 0;
  },
  async apply(ctx) {
    const platform = platformOf(ctx);
    const started = await ctx.exec(startDaemonCommand(platform), { timeoutMs: 120_000 });
    if (started.code !== 0) throw new StepFailed(`could not start the Docker daemon (exit ${started.code}): ${lastLines(outputOf(started), 3)}`);
    if (platform.init === 'none') {
      await ctx.log('No init system on the box (PID 1 is not systemd, OpenRC or sysvinit): dockerd was started in the background and will not come back after a reboot.', 'warn');
    }
  },
  async verify(ctx) {
    await awaitDaemon(ctx, 'after starting it');
  },
};

/** The box's daemon.json (null when there is none); a file that is not JSON stops the step. */
async function readDaemonJson(ctx: Ctx): Promise<{ text: string | null; config: JsonObject }> {
  const result = await ctx.exec(readDaemonJsonCommand(platformOf(ctx)), { timeoutMs: QUICK_MS });
  if (result.code === 3) return { text: null, config: {} };
  if (result.code !== 0) throw new StepFailed(`could not read /etc/docker/daemon.json: ${lastLines(result.stderr, 3)}`);
  const parsed = parseDaemonJson(result.stdout);
  if ('invalid' in parsed) throw new StepFailed(parsed.invalid);
  return { text: result.stdout, config: parsed.config };
}

const daemonJson: DockerStep = {
  name: 'Configure /etc/docker/daemon.json',
  async check(ctx) {
    const current = await readDaemonJson(ctx);
    if (!sameJson(mergeDaemonJson(current.config, ctx.params.daemonJson), current.config)) return false;
    // The file is right; a restart may still be owed if an earlier run wrote it and was interrupted.
    const stale = await ctx.exec(daemonConfigStaleCommand(platformOf(ctx)), { timeoutMs: QUICK_MS });
    return !stale.stdout.includes('stale');
  },
  async apply(ctx) {
    const platform = platformOf(ctx);
    const current = await readDaemonJson(ctx);
    const merged = mergeDaemonJson(current.config, ctx.params.daemonJson);
    if (!sameJson(merged, current.config)) {
      const written = await ctx.exec(writeDaemonJsonCommand(platform, renderDaemonJson(merged)), { timeoutMs: QUICK_MS });
      if (written.code !== 0) throw new StepFailed(`could not write /etc/docker/daemon.json: ${lastLines(written.stderr, 3)}`);
    }
    // On a fresh box this step runs before the install: the daemon's first start reads the file, no restart owed.
    if (!(await daemonAnswers(ctx))) {
      await ctx.log('Docker is not running yet: it reads the new daemon.json when it starts.');
      return;
    }
    await ctx.exec(restartDaemonCommand(platform), { timeoutMs: 120_000 });
    try {
      await awaitDaemon(ctx, 'after restarting it with the new daemon.json');
    } catch (error) {
      // Most likely a setting dockerd refuses: put the box back as it was, with Docker running.
      await ctx.log('Putting the previous daemon.json back and restarting Docker.', 'warn');
      await ctx.exec(current.text === null ? removeDaemonJsonCommand(platform) : writeDaemonJsonCommand(platform, current.text), { timeoutMs: QUICK_MS });
      await ctx.exec(restartDaemonCommand(platform), { timeoutMs: 120_000 });
      throw new StepFailed(`${(error as Error).message}\nThe previous daemon.json was put back.`, { cause: error });
    }
  },
  async verify(ctx) {
    const current = await readDaemonJson(ctx);
    if (!sameJson(mergeDaemonJson(current.config, ctx.params.daemonJson), current.config)) {
      throw new StepFailed('/etc/docker/daemon.json does not hold the settings just written (changed by something else meanwhile?)');
    }
  },
};

async function inDockerGroup(ctx: Ctx): Promise<boolean> {
  const result = await ctx.exec(userGroupsCommand(boxOf(ctx).sshUser), { timeoutMs: QUICK_MS });
  if (result.code !== 0) throw new StepFailed(`could not read the groups of ${boxOf(ctx).sshUser}: ${lastLines(result.stderr, 2)}`);
  return result.stdout.trim().split(/\s+/).includes('docker');
}

const group: DockerStep = {
  name: 'Add the SSH user to the docker group',
  async check(ctx) {
    // root reaches the Docker socket without the group.
    return platformOf(ctx).root || (await inDockerGroup(ctx));
  },
  async apply(ctx) {
    const result = await ctx.exec(addToDockerGroupCommand(platformOf(ctx), boxOf(ctx).sshUser), { timeoutMs: QUICK_MS });
    if (result.code !== 0) throw new StepFailed(`could not add ${boxOf(ctx).sshUser} to the docker group: ${lastLines(result.stderr, 3)}`);
    // The dashboard's own pooled login (container lists, container terminals) only gets the group in a new login.
    ctx.refreshSession();
  },
  async verify(ctx) {
    if (!(await inDockerGroup(ctx))) throw new StepFailed(`${boxOf(ctx).sshUser} is still not in the docker group`);
  },
};

const userAccess: DockerStep = probeStep('Check the SSH user can use Docker', async (ctx) => {
  const platform = platformOf(ctx);
  const result = platform.root
    ? await ctx.exec(daemonAnswersCommand(platform), { timeoutMs: QUICK_MS })
    : await ctx.exec(dockerInfoAsUserCommand(platform, boxOf(ctx).sshUser), { timeoutMs: QUICK_MS });
  if (result.code !== 0) throw new StepFailed(`${boxOf(ctx).sshUser} cannot use Docker in a new login: ${lastLines(outputOf(result), 3)}`);
  await ctx.log(`${boxOf(ctx).sshUser} can use Docker ${result.stdout.trim()} from its next login on.`);
});

/** One Docker provisioning at a time per box: two would fight over its package manager. */
export function dockerJobKey(boxId: string): string {
  return `docker:${boxId}`;
}

export const dockerRecipe: Recipe<DockerParams, DockerState> = {
  kind: 'docker',
  needs: { box: true, host: false },
  title: 'Docker provisioning',
  params: dockerParams,
  exclusiveKeyOf: ({ boxId }) => boxId && dockerJobKey(boxId),
  // daemon.json before the install: dockerd then starts once, with it, instead of starting and restarting.
  steps: [detect, sudo, daemonJson, install, start, group, userAccess, installDeveloperKeys],
};

// A real dockerd inside a lab box, for container features (terminals, listings). Needs a box started with
// startLabBox({ dockerCapable: true }). Everything runs as root in the box through `docker exec` (box.root).
import { until } from '../helpers/wait';
import type { LabBox } from './lab';

const DOCKER_READY_TIMEOUT_MS = 30_000;

async function rootOk(box: LabBox, command: string): Promise<string> {
  const result = await box.root(command);
  if (result.code !== 0) {
    throw new Error(`boxyard lab: \`${command}\` failed in ${box.name} (exit ${result.code}): ${(result.stderr || result.stdout).trim().slice(-2000)}`);
  }
  return result.stdout;
}

/**
 * Installs Debian's docker.io (and busybox-static, the tiny image's only binary) from the mirror, starts dockerd in
 * the background and lets the box's `dev` user use it. About 15-30 s. SSH logins made before this do not have the
 * docker group yet: connect (or evict the pool's connection) afterwards.
 */
export async function installDockerInBox(box: LabBox): Promise<void> {
  await rootOk(
    box,
    'export DEBIAN_FRONTEND=noninteractive; apt-get update -qq >/tmp/apt.log 2>&1 && apt-get install -y -qq --no-install-recommends docker.io busybox-static >>/tmp/apt.log 2>&1 || { tail -20 /tmp/apt.log; exit 1; }',
  );
  // Backgrounded inside the exec'd shell: it outlives `docker exec` (reparented to the box's init).
  await rootOk(box, 'nohup dockerd >/var/log/dockerd.log 2>&1 </dev/null &');
  await until(async () => (await box.root('docker info >/dev/null 2>&1')).code === 0, `boxyard lab: dockerd in ${box.name}`, {
    timeoutMs: DOCKER_READY_TIMEOUT_MS,
    everyMs: 200,
    describe: async () => (await box.root('tail -30 /var/log/dockerd.log')).stdout,
  });
  await rootOk(box, 'usermod -aG docker dev');
}

/**
 * Runs a container from `tiny`, an image holding only busybox (sh, ls, cat, echo, sleep, stty), built in the box on
 * first use since no registry is reachable. The container sleeps until removed, or runs `command` (a shell word list
 * from test code, e.g. `busybox httpd -f -p 80`). `publish`: `docker run -p` specs (HOST:CONTAINER), so Docker listens
 * on the box's HOST port for the container; `volumes`: `docker run -v` specs (BOX_PATH:CONTAINER_PATH).
 */
export async function runTinyContainer(box: LabBox, name: string, options: { publish?: string[]; volumes?: string[]; command?: string } = {}): Promise<void> {
  if ((await box.root('docker image inspect tiny >/dev/null 2>&1')).code !== 0) {
    await rootOk(
      box,
      // A directory of its own: two callers building at once must not share (and rm -rf) one rootfs.
      'd=$(mktemp -d) && mkdir -p "$d/bin" && cp /bin/busybox "$d/bin/" && ' +
        'for applet in sh ls cat echo sleep stty; do ln -s busybox "$d/bin/$applet"; done && ' +
        'tar -C "$d" -c . | docker import - tiny >/dev/null && rm -rf "$d"',
    );
  }
  // The name, ports and paths come from test code, but quote them anyway: they land in a root shell.
  const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
  const flags = [...(options.publish ?? []).map((spec) => `-p ${quote(spec)} `), ...(options.volumes ?? []).map((spec) => `-v ${quote(spec)} `)].join('');
  await rootOk(box, `docker run -d --name ${quote(name)} ${flags}tiny ${options.command ?? 'sleep 100000'} >/dev/null`);
}

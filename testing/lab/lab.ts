// The lab: real Debian boxes (docker containers running OpenSSH's sshd) that every test and benchmark talks to.
// Everything goes through the real `docker` CLI. Boxes are reached only through ports published on 127.0.0.1.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { link, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sshBanner } from '../../server/ssh/banner';
import { until } from '../helpers/wait';

export interface ExecResult { stdout: string; stderr: string; code: number }

export interface LabBox {
  name: string;
  host: '127.0.0.1';
  port: number;
  user: 'dev';
  password: string;
  privateKey: string;
  publicKey: string;
  hostKeyFingerprint(algorithm?: 'ed25519' | 'ecdsa' | 'rsa'): Promise<string>;
  /** The host key itself, as its .pub file (and a known_hosts line) holds it: key type and base64 blob. */
  hostPublicKey(algorithm?: 'ed25519' | 'ecdsa' | 'rsa'): Promise<{ algorithm: string; blob: string }>;
  root(command: string): Promise<ExecResult>;
  stopSshd(): Promise<void>;
  startSshd(): Promise<void>;
  regenerateHostKeys(): Promise<void>;
  authorize(publicKey: string): Promise<void>;
  remove(): Promise<void>;
}

export interface LabBoxOptions {
  dockerCapable?: boolean;
  namePrefix?: string;
  /** An image derived from the lab image (e.g. the libvirt host's), built and checked by the caller. */
  image?: string;
  /** More `docker run` arguments, e.g. bind mounts. */
  dockerArgs?: readonly string[];
}

const IMAGE = 'boxyard-lab:bookworm';
const LABEL = 'boxyard-lab=1';
const LAB_DIR = fileURLToPath(new URL('.', import.meta.url));
const CACHE_DIR = join(LAB_DIR, '.cache');
const TEST_KEY_PATH = join(CACHE_DIR, 'lab_ed25519');
// 50 boxes x 384 MiB = 19 GiB: fits this 24 GiB machine with room left for the app, postgres and Chromium.
// An idle box uses about 4 MiB; the limit matters for apt-get install (page cache counts) inside a box.
const BOX_MEMORY = '384m';
// A docker-capable box's /var/lib/docker (images, containers) is a tmpfs charged to the box's memory.
const DOCKER_CAPABLE_BOX_MEMORY = '768m';
// Flags that let a real dockerd run inside the box later; --privileged fails on this machine.
const DOCKER_CAPABLE_FLAGS = [
  '--cap-add', 'ALL', '--cap-drop', 'SYS_RESOURCE',
  '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
  '--tmpfs', '/var/lib/docker:exec',
  '--env', 'LAB_DOCKER_CAPABLE=1',
];
// Generous because 50 boxes starting together each generate RSA/ECDSA/Ed25519 host keys on 2 cores.
const READY_TIMEOUT_MS = 90_000;
const START_CONCURRENCY = 8;

/** Runs the docker CLI; resolves with its exit code instead of throwing (only a missing CLI throws). */
function docker(args: string[], input?: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk; });
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'ENOENT'
        ? new Error('boxyard lab: the docker CLI is not installed; run scripts/test-deps.sh')
        : error);
    });
    child.on('close', (code) => resolve({ stdout, stderr, code: code ?? 1 }));
    child.stdin.end(input);
  });
}

/** Like docker() but throws with docker's stderr on a non-zero exit. */
async function dockerOk(args: string[], input?: string): Promise<string> {
  const result = await docker(args, input);
  if (result.code !== 0) {
    throw new Error(`boxyard lab: docker ${args.slice(0, 2).join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}`);
  }
  return result.stdout;
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, (error, stdout, stderr) => {
      if (error) reject(new Error(`boxyard lab: ${file} ${args.join(' ')} failed: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });
}

let imageReady: Promise<void> | undefined;

export function ensureLabImage(): Promise<void> {
  imageReady ??= new Promise<void>((resolve, reject) => {
    execFile(join(LAB_DIR, 'build-image.sh'), { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`boxyard lab: testing/lab/build-image.sh failed (exit ${error.code}):\n${stdout}${stderr}`));
      else resolve();
    });
  }).catch((error: unknown) => {
    imageReady = undefined; // let a later call retry, e.g. after dockerd was started
    throw error;
  });
  return imageReady;
}

let testKey: Promise<{ privateKey: string; publicKey: string }> | undefined;

export function labKeyPair(): Promise<{ privateKey: string; publicKey: string }> {
  testKey ??= (async () => {
    await mkdir(CACHE_DIR, { recursive: true });
    const tempDir = await mkdtemp(join(CACHE_DIR, 'key-'));
    try {
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'boxyard-lab', '-f', join(tempDir, 'key')]);
      // link() fails if the key exists: the first of several parallel test processes wins and all use its key.
      await link(join(tempDir, 'key'), TEST_KEY_PATH).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
    } finally {
      await rm(tempDir, { recursive: true, force: true });
    }
    const privateKey = await readFile(TEST_KEY_PATH, 'utf8');
    const publicKey = (await run('ssh-keygen', ['-y', '-f', TEST_KEY_PATH])).trim();
    return { privateKey, publicKey };
  })();
  return testKey;
}

async function describeFailure(name: string): Promise<string> {
  const state = await docker(['inspect', '--format', 'status={{.State.Status}} exit={{.State.ExitCode}} error={{.State.Error}}', name]);
  const logs = await docker(['logs', '--tail', '40', name]);
  return `${state.stdout.trim() || state.stderr.trim()}\n--- docker logs ${name} ---\n${logs.stdout}${logs.stderr}`;
}

/** Polls until sshd's banner is readable on the port; fails early, with the logs, if the container died. */
async function waitForSshd(name: string, port: number): Promise<void> {
  let nextStateCheck = Date.now() + 1_000;
  const ready = async () => {
    if (await sshBanner('127.0.0.1', port, 2_000)) return true;
    if (Date.now() > nextStateCheck) {
      const running = await docker(['inspect', '--format', '{{.State.Running}}', name]);
      if (running.stdout.trim() !== 'true') {
        throw new Error(`boxyard lab: box ${name} stopped before sshd was ready\n${await describeFailure(name)}`);
      }
      nextStateCheck = Date.now() + 1_000;
    }
    return false;
  };
  await until(ready, `boxyard lab: sshd of ${name} on 127.0.0.1:${port}`, { timeoutMs: READY_TIMEOUT_MS, everyMs: 250, describe: () => describeFailure(name) });
}

// Kills the listener and every session process (all are named sshd), then waits until they are gone.
const STOP_SSHD = 'pkill -x sshd; for _ in $(seq 100); do pgrep -x sshd >/dev/null || exit 0; sleep 0.05; done; pkill -KILL -x sshd; exit 0';
// Opening the init script's FIFO wakes it to start sshd; skipped when sshd already listens, since the open
// would block with no reader.
const START_SSHD = "ss -Hltn 'sport = :22' | grep -q . || timeout 10 sh -c ': > /run/boxyard-lab/sshd-start'";

export async function startLabBox(options: LabBoxOptions = {}): Promise<LabBox> {
  const [, keyPair] = await Promise.all([options.image ? undefined : ensureLabImage(), labKeyPair()]);
  const name = `${options.namePrefix ?? 'boxyard-lab'}-${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('base64url');
  await dockerOk([
    'run', '--detach', '--name', name, '--hostname', name.slice(0, 63),
    '--label', LABEL, '--label', `boxyard-lab.pid=${process.pid}`,
    '--memory', options.dockerCapable ? DOCKER_CAPABLE_BOX_MEMORY : BOX_MEMORY,
    '--publish', '127.0.0.1:0:22',
    // Passed by environment so one `docker run` prepares the box; box-init.sh applies and unsets them.
    '--env', `LAB_DEV_PASSWORD=${password}`, '--env', `LAB_AUTHORIZED_KEY=${keyPair.publicKey}`,
    ...(options.dockerCapable ? DOCKER_CAPABLE_FLAGS : []),
    ...(options.dockerArgs ?? []),
    options.image ?? IMAGE,
  ]);
  let port: number;
  try {
    const published = await dockerOk(['port', name, '22/tcp']);
    port = Number(/^127\.0\.0\.1:(\d+)$/m.exec(published)?.[1]);
    if (!port) throw new Error(`boxyard lab: unexpected published port for ${name}: ${published}`);
    await waitForSshd(name, port);
  } catch (error) {
    await docker(['rm', '--force', name]);
    throw error;
  }

  const root = (command: string): Promise<ExecResult> => docker(['exec', name, 'bash', '-c', command]);
  const rootOk = async (command: string): Promise<void> => {
    const result = await root(command);
    if (result.code !== 0) {
      throw new Error(`boxyard lab: \`${command}\` failed in ${name} (exit ${result.code}): ${result.stderr.trim()}`);
    }
  };
  const stopSshd = () => rootOk(STOP_SSHD);
  const startSshd = async () => {
    await rootOk(START_SSHD);
    await waitForSshd(name, port);
  };

  return {
    name,
    host: '127.0.0.1',
    port,
    user: 'dev',
    password,
    privateKey: keyPair.privateKey,
    publicKey: keyPair.publicKey,
    async hostKeyFingerprint(algorithm = 'ed25519') {
      const result = await root(`ssh-keygen -lf /etc/ssh/ssh_host_${algorithm}_key.pub`);
      const fingerprint = /SHA256:\S+/.exec(result.stdout)?.[0];
      if (!fingerprint) throw new Error(`boxyard lab: no ${algorithm} host key in ${name}: ${result.stderr.trim()}`);
      return fingerprint;
    },
    async hostPublicKey(algorithm = 'ed25519') {
      const result = await root(`cat /etc/ssh/ssh_host_${algorithm}_key.pub`);
      const [type, blob] = result.stdout.trim().split(' ');
      if (!type || !blob) throw new Error(`boxyard lab: no ${algorithm} host key in ${name}: ${result.stderr.trim()}`);
      return { algorithm: type, blob };
    },
    root,
    stopSshd,
    startSshd,
    async regenerateHostKeys() {
      await stopSshd();
      await rootOk('rm -f /etc/ssh/ssh_host_* && ssh-keygen -A');
      await startSshd();
    },
    async authorize(publicKey: string) {
      // The key goes through stdin, so no shell quoting is involved.
      const result = await docker(
        ['exec', '-i', name, 'bash', '-c', 'cat >> /home/dev/.ssh/authorized_keys'],
        `${publicKey.trim()}\n`,
      );
      if (result.code !== 0) throw new Error(`boxyard lab: authorize failed in ${name}: ${result.stderr.trim()}`);
    },
    async remove() {
      await dockerOk(['rm', '--force', name]);
    },
  };
}

export async function startLabBoxes(count: number, options: LabBoxOptions = {}): Promise<LabBox[]> {
  await ensureLabImage();
  const boxes: LabBox[] = [];
  const failures: unknown[] = [];
  let remaining = count;
  // A few at a time: dozens of simultaneous `docker run`s on 2 cores are slower than a small pool.
  const worker = async () => {
    while (remaining > 0 && failures.length === 0) {
      remaining -= 1;
      try {
        boxes.push(await startLabBox(options));
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(START_CONCURRENCY, count) }, worker));
  if (failures.length > 0) {
    await Promise.all(boxes.map((box) => box.remove()));
    throw failures[0];
  }
  return boxes;
}

export async function removeAllLabBoxes(): Promise<void> {
  const ids = (await dockerOk(['ps', '--all', '--quiet', '--filter', `label=${LABEL}`])).split('\n').filter(Boolean);
  if (ids.length > 0) await dockerOk(['rm', '--force', ...ids]);
}

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import type { SessionUser } from '../boxes/access';
import { createBox } from '../boxes/boxes';
import { loadEnv } from '../env';
import { startServices, stopServices, type Services } from '../services';
import { sh } from '../ssh/quote';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { until } from '../../testing/helpers/wait';
import { provisionDocker } from './provision';

/**
 * The Docker recipe for real, on docker-capable lab boxes (Debian bookworm, apt reaching Debian's mirror, no init
 * system: PID 1 is tini), through the dashboard's own job runner as services.ts wires it.
 */
describe('Docker provisioning of a Debian lab box', () => {
  let services: Services;
  let admin: SessionUser;
  const boxes: LabBox[] = [];
  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-provision-'));

  beforeAll(async () => {
    ({ services } = await startServices(loadEnv({ BOXYARD_DATA_DIR: dataDir, BOXYARD_ADMIN_PASSWORD: 'provision-test-password' }), { pollStatus: false }));
    const user = await services.db.user.findFirstOrThrow({ where: { role: 'admin' } });
    admin = { id: user.id, email: user.email, name: user.name, role: 'admin' };
  });

  afterAll(async () => {
    await stopServices(services);
    await Promise.all(boxes.map((box) => box.remove()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function labBox(name: string, sshUser = 'dev'): Promise<{ lab: LabBox; id: string }> {
    const lab = await startLabBox({ dockerCapable: true, namePrefix: 'provision' });
    boxes.push(lab);
    await lab.authorize(services.dashboardPublicKey);
    const created = await createBox(services.db, services.secrets, admin, {
      name, host: lab.host, port: lab.port, sshUser, tags: [], notes: '', memberIds: [], auth: { method: 'dashboard-key' },
    });
    return { lab, id: created.id };
  }

  const job = (id: string) => services.db.job.findUniqueOrThrow({ where: { id } });
  const steps = (id: string) => services.db.jobStep.findMany({ where: { jobId: id }, orderBy: { index: 'asc' } });
  const logText = async (id: string) => (await services.db.jobLog.findMany({ where: { jobId: id }, orderBy: { seq: 'asc' } })).map((line) => line.text);

  async function finished(id: string, timeout = 240_000) {
    await expect.poll(async () => (await job(id)).status, { timeout, interval: 200 }).toMatch(/^(succeeded|failed|cancelled)$/);
    return job(id);
  }

  async function root(lab: LabBox, command: string): Promise<string> {
    const result = await lab.root(command);
    if (result.code !== 0) throw new Error(`${command} failed in the box: ${result.stderr}`);
    return result.stdout;
  }

  const dockerdPid = (lab: LabBox) => root(lab, 'cat /var/run/docker.pid');
  const daemonJson = async (lab: LabBox) => JSON.parse(await root(lab, 'cat /etc/docker/daemon.json')) as unknown;

  /** A fresh SSH login as the box user (the pooled connection predates the group change). */
  /** Through the dashboard's pooled login, which the job used before the user joined the docker group. */
  async function dockerAsBoxUser(boxId: string): Promise<string> {
    const result = await services.remote.exec(boxId, sh`docker info --format '{{.ServerVersion}} {{.LoggingDriver}}'`, { actor: admin, purpose: 'test' });
    expect(result.stderr).toBe('');
    return result.stdout.trim();
  }

  const wanted = { dockerSource: 'distro' as const, daemonJson: { 'log-opts': { 'max-size': '10m', 'max-file': 3 }, 'log-driver': 'json-file', 'max-concurrent-downloads': 2 } };

  describe('one box, provisioned and then provisioned again', () => {
    let lab: LabBox;
    let boxId: string;

    beforeAll(async () => {
      ({ lab, id: boxId } = await labBox('docker-box'));
    }, LAB_START_TIMEOUT_MS);

    it('a box user without sudo rights fails with a plain message, before anything changes', async () => {
      await root(lab, 'useradd --create-home --shell /bin/bash nosudo && install -d -o nosudo -m 0700 /home/nosudo/.ssh && install -o nosudo -m 0600 /home/dev/.ssh/authorized_keys /home/nosudo/.ssh/');
      const created = await createBox(services.db, services.secrets, admin, {
        name: 'no-sudo', host: lab.host, port: lab.port, sshUser: 'nosudo', tags: [], notes: '', memberIds: [], auth: { method: 'dashboard-key' },
      });
      const { jobId } = await provisionDocker(services, admin, { boxId: created.id, ...wanted });
      const failed = await finished(jobId);
      expect(failed.status).toBe('failed');
      expect(failed.error).toBe('Step 2 of 8 (Check passwordless sudo) failed: the box user nosudo needs passwordless sudo (NOPASSWD) for provisioning');
      expect((await steps(jobId)).map((step) => step.status)).toEqual(['succeeded', 'failed', 'skipped', 'skipped', 'skipped', 'skipped', 'skipped', 'skipped']);
      expect((await lab.root('command -v dockerd')).code).not.toBe(0);
    });

    it('installs Docker from Debian, starts it, merges daemon.json keeping unknown keys, and lets the user use it', async () => {
      await root(lab, `mkdir -p /etc/docker && printf '%s' '{"debug": true, "log-opts": {"labels": "team"}}' > /etc/docker/daemon.json`);
      const started = Date.now();
      const { jobId } = await provisionDocker(services, admin, { boxId, ...wanted });
      const done = await finished(jobId);
      const seconds = (Date.now() - started) / 1000;
      expect(done.error).toBeNull();
      expect(done.status).toBe('succeeded');
      const timing = (await steps(jobId)).map((step) => `${step.name}: ${((step.finishedAt!.getTime() - step.startedAt!.getTime()) / 1000).toFixed(1)} s`);
      console.log(`full Docker provisioning of a lab box: ${seconds.toFixed(1)} s\n  ${timing.join('\n  ')}`);

      expect((await steps(jobId)).map((step) => [step.name, step.status, step.changed])).toEqual([
        ['Detect the distribution', 'succeeded', false],
        ['Check passwordless sudo', 'succeeded', false],
        ['Configure /etc/docker/daemon.json', 'succeeded', true],
        ['Install Docker', 'succeeded', true],
        ['Enable and start the Docker daemon', 'succeeded', true],
        ['Add the SSH user to the docker group', 'succeeded', true],
        ['Check the SSH user can use Docker', 'succeeded', false],
        // Nobody on this box has registered a key, so there is no managed block to write.
        ['Install developer keys', 'succeeded', false],
      ]);
      expect(await daemonJson(lab)).toEqual({
        debug: true,
        'log-opts': { labels: 'team', 'max-size': '10m', 'max-file': '3' },
        'log-driver': 'json-file',
        'max-concurrent-downloads': 2,
      });
      const log = await logText(jobId);
      expect(log).toContain('Debian GNU/Linux 12 (bookworm): packages with apt, services with no init system.');
      expect(log).toContainEqual(expect.stringMatching(/^\$ sudo -n sh -c .*apt-get -q -y -o DPkg::Lock::Timeout=.*install --no-install-recommends/));
      // daemon.json was in place before dockerd first started: no restart.
      expect(log).toContain('Docker is not running yet: it reads the new daemon.json when it starts.');
      expect(log.some((line) => line.startsWith('$') && /restart/.test(line))).toBe(false);
      expect(await dockerAsBoxUser(boxId)).toMatch(/^\d+\.\d+\.\d+.* json-file$/);
    });

    it('a second run finds everything already done and changes nothing, not even the running daemon', async () => {
      const pid = await dockerdPid(lab);
      const { jobId } = await provisionDocker(services, admin, { boxId, ...wanted });
      expect((await finished(jobId)).status).toBe('succeeded');
      const ran = await steps(jobId);
      expect(ran.every((step) => step.status === 'succeeded' && !step.changed)).toBe(true);
      const log = await logText(jobId);
      expect(log.filter((line) => line === 'Already done.')).toHaveLength(8);
      expect(log.some((line) => /apt-get|restart|usermod|daemon\.json\.boxyard-tmp/.test(line))).toBe(false);
      expect(await dockerdPid(lab)).toBe(pid);
    });

    it('a daemon.json that is not JSON stops the job and is left byte for byte as it was', async () => {
      const broken = '{\n  "debug": true,\n  "log-opts": { "max-size": "10m", }\n}\n';
      await root(lab, `printf '%s' '${broken}' > /etc/docker/daemon.json`);
      const before = createHash('sha256').update(await root(lab, 'cat /etc/docker/daemon.json')).digest('hex');
      const pid = await dockerdPid(lab);

      const { jobId } = await provisionDocker(services, admin, { boxId, ...wanted });
      const failed = await finished(jobId);
      expect(failed.status).toBe('failed');
      expect(failed.error).toMatch(/^Step 3 of 8 \(Configure \/etc\/docker\/daemon\.json\) failed: \/etc\/docker\/daemon\.json on the box is not valid JSON \(.+\), so it was left as it is; fix or remove it and run the job again\. It begins:\n\{\n {2}"debug": true,/);
      expect(createHash('sha256').update(await root(lab, 'cat /etc/docker/daemon.json')).digest('hex')).toBe(before);
      expect(await dockerdPid(lab)).toBe(pid);
    });

    it('a changed setting rewrites only daemon.json and restarts dockerd once', async () => {
      await root(lab, `printf '%s' '{"debug": true, "log-opts": {"labels": "team", "max-size": "10m", "max-file": "3"}, "log-driver": "json-file", "max-concurrent-downloads": 2}' > /etc/docker/daemon.json`);
      const pid = await dockerdPid(lab);
      const { jobId } = await provisionDocker(services, admin, { boxId, ...wanted, daemonJson: { 'log-opts': { 'max-size': '20m' } } });
      expect((await finished(jobId)).status).toBe('succeeded');
      expect((await steps(jobId)).filter((step) => step.changed).map((step) => step.name)).toEqual(['Configure /etc/docker/daemon.json']);
      expect(await daemonJson(lab)).toMatchObject({ debug: true, 'log-opts': { labels: 'team', 'max-size': '20m', 'max-file': '3' } });
      expect(await dockerdPid(lab)).not.toBe(pid);
      expect(await dockerAsBoxUser(boxId)).toMatch(/json-file$/);
    });
  });

  it('resumes an install whose SSH connection dropped mid-apt, and ends with the box correctly configured', async () => {
    const { lab, id } = await labBox('dropped-box');
    const { jobId } = await provisionDocker(services, admin, { boxId: id, ...wanted });
    // Wait until dpkg is really at work unpacking or configuring packages, then cut SSH (every sshd process) for a while.
    await expect.poll(async () => (await lab.root("pgrep -f 'dpkg .*--(unpack|configure)'")).code, { timeout: 120_000, interval: 50 }).toBe(0);
    await lab.stopSshd();
    // Down until the job has seen the drop, so the install really resumes.
    await until(async () => (await logText(jobId)).some((line) => line.startsWith('Connection problem: ')), 'the job to notice the drop', 60_000);
    await lab.startSshd();

    const done = await finished(jobId);
    expect(done.error).toBeNull();
    expect(done.status).toBe('succeeded');
    const install = (await steps(jobId)).find((step) => step.name === 'Install Docker')!;
    expect(install.attempts).toBeGreaterThanOrEqual(2);
    const log = await logText(jobId);
    expect(log).toContainEqual(expect.stringMatching(/^Connection problem: /));
    expect((await lab.root("dpkg-query -W -f='${db:Status-Abbrev}' docker.io")).stdout.trim()).toBe('ii');
    expect((await lab.root('dpkg --audit')).stdout.trim()).toBe('');
    expect(await daemonJson(lab)).toEqual({ 'log-opts': { 'max-size': '10m', 'max-file': '3' }, 'log-driver': 'json-file', 'max-concurrent-downloads': 2 });
    expect(await dockerAsBoxUser(id)).toMatch(/json-file$/);
  }, 300_000);

  it("waits for another apt run that holds the package lists' lock, which apt-get update does not wait for", async () => {
    const { lab, id } = await labBox('apt-lock-box');
    // What a dashboard stopped mid-update leaves on the box: its apt-get update still running, holding the lists'
    // lock. perl-base (in every Debian) takes the same kind of lock as apt, an fcntl write lock, and holds it.
    const holdListsLock =
      'perl -MFcntl -e \'open(my $f, ">>", "/var/lib/apt/lists/lock") or die $!; my $lock = pack("s s x4 q q i x4", F_WRLCK, 0, 0, 0, 0); ' +
      'fcntl($f, F_SETLKW, $lock) or die $!; open(my $held, ">", "/tmp/lists-lock-held") or die $!; close $held; sleep 600\'';
    await root(lab, `nohup ${holdListsLock} >/dev/null 2>&1 &`);
    await expect.poll(async () => (await lab.root('test -e /tmp/lists-lock-held')).code, { timeout: 10_000, interval: 100 }).toBe(0);

    const { jobId } = await provisionDocker(services, admin, { boxId: id, ...wanted });
    await until(async () => (await logText(jobId)).includes("Another apt run holds apt's lock: waiting up to 120 s for it to finish."), 'the job to wait for the lock', 120_000);
    expect((await job(jobId)).status).toBe('running');
    await root(lab, 'pkill -x perl');

    const done = await finished(jobId);
    expect(done.error).toBeNull();
    expect(done.status).toBe('succeeded');
    expect((await lab.root("dpkg-query -W -f='${db:Status-Abbrev}' docker.io")).stdout.trim()).toBe('ii');
  }, 300_000);

  it('finishes a dpkg run that died mid-install (dpkg --configure -a) before installing again', async () => {
    const { lab, id } = await labBox('killed-dpkg-box');
    const { jobId } = await provisionDocker(services, admin, { boxId: id, ...wanted });
    await expect.poll(async () => (await lab.root("pgrep -f 'dpkg .*--unpack'")).code, { timeout: 120_000, interval: 50 }).toBe(0);
    // As if the box had killed apt with the session (a PTY hangup, the OOM killer): dpkg stops half-way.
    await lab.stopSshd();
    await lab.root('pkill -KILL -x apt-get; pkill -KILL -x dpkg; true');
    await lab.startSshd();

    const done = await finished(jobId);
    expect(done.error).toBeNull();
    expect(done.status).toBe('succeeded');
    const log = await logText(jobId);
    expect(log).toContain('A previous dpkg run was cut short (e.g. the connection dropped mid-install): finishing it first.');
    expect(log).toContainEqual(expect.stringMatching(/dpkg --configure -a'$/));
    expect((await lab.root('dpkg --audit')).stdout.trim()).toBe('');
    expect(await dockerAsBoxUser(id)).toMatch(/json-file$/);
  }, 300_000);
});

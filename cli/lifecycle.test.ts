import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../server/access-keys/api-tokens';
import { updateBox } from '../server/boxes/boxes';
import { createHost } from '../server/hosts/hosts';
import { importVmAsBox } from '../server/vms/import-vm';
import { CLI_SOURCE as CLI, runProcess, TSX } from '../testing/helpers/process';
import { startBackend, type Backend } from '../testing/helpers/terminals';
import { until } from '../testing/helpers/wait';
import { defineEmptyDomain, removeDomain, startLibvirtHost, virshOk, type LabDomain, type LibvirtHost } from '../testing/lab/libvirt-host';
import type { FinishedJob } from './lifecycle';

/**
 * `boxyard start|stop|suspend|resume NAME` as the CLI process, by a developer with an API token, against this
 * machine's real libvirtd through a lab hypervisor host and the dashboard's own job runner. The VM is a diskless
 * domain (server/vms/libvirt-lifecycle.test.ts): nothing boots, but start, managedsave/restore and the forced stop
 * are all real, each well under a second.
 */
describe('boxyard start, stop, suspend and resume', () => {
  let backend: Backend;
  let lab: LibvirtHost;
  let domain: LabDomain;
  let url: string;
  let token: string;

  const boxyard = (...args: string[]) => runProcess(TSX, [CLI, ...args], { env: { PATH: process.env.PATH, HOME: '/nonexistent', NODE_ENV: 'test', BOXYARD_URL: url, BOXYARD_TOKEN: token }, timeoutMs: 120_000 });
  const virshState = async () => (await virshOk(['domstate', '--domain', domain.name])).trim();

  beforeAll(async () => {
    [backend, lab, domain] = await Promise.all([startBackend(), startLibvirtHost({ namePrefix: 'boxyard-lab-cli-vms' }), defineEmptyDomain()]);
    url = (await backend.listen()).replace(/^ws:/, 'http:');
    await lab.authorize(backend.services.dashboardPublicKey);
    const { services, admin } = backend;
    const host = await createHost(services.db, services.secrets, { name: 'lab-kvm', kind: 'libvirt', host: lab.host, port: lab.port, sshUser: lab.user, auth: { method: 'dashboard-key' } });
    const { boxId } = await importVmAsBox(services, admin.user, {
      hostId: host.id,
      vmId: domain.uuid,
      name: 'vm-box',
      sshUser: 'dev',
      address: { host: '127.0.0.1', port: 1 },
      auth: { method: 'dashboard-key' },
      tags: [],
    });
    const alice = await backend.addUser('alice@example.com');
    await updateBox(services.db, services.secrets, admin.user, { id: boxId, memberIds: [alice.user.id] });
    await backend.addBox('plain-box', lab, alice);
    ({ token } = await createApiToken(services.db, alice.user, 'lifecycle test'));
  }, 180_000);

  afterAll(async () => {
    await backend?.stop();
    if (domain) await removeDomain(domain.uuid);
    await lab?.remove();
  });

  it('start follows the job live on stderr (steps and log lines) and says it succeeded', async () => {
    const started = await boxyard('start', 'vm-box');
    expect(started.code).toBe(0);
    expect(started.stdout).toMatch(/^start of vm-box succeeded in \d+(\.\d)? s\n$/);
    const stderr = started.stderr.split('\n');
    expect(stderr[0]).toMatch(/^start vm-box: job \S+$/);
    // The job's log as it was written: the queued line, each step's line, the commands on the host and their output.
    expect(stderr[1]).toBe('VM start on vm-box on host lab-kvm, queued by alice@example.com.');
    expect(stderr).toContain('Step 2 of 3: Start the VM');
    expect(stderr.some((line) => /^lab-kvm\$ .*virsh start /.test(line))).toBe(true);
    expect(await virshState()).toBe('running');
  }, 120_000);

  it('suspend --json prints the finished job; resume brings the VM back', async () => {
    const suspended = await boxyard('suspend', '--json', 'vm-box');
    expect(suspended.code).toBe(0);
    const job = JSON.parse(suspended.stdout) as FinishedJob;
    expect(job).toMatchObject({ kind: 'vm.suspend', boxName: 'vm-box', status: 'succeeded', error: null, createdByEmail: 'alice@example.com' });
    expect(job.steps.map((step) => step.status)).toEqual(job.steps.map(() => 'succeeded'));
    expect(job.steps.map((step) => step.name)).toContain('Suspend the VM (save its state)');
    expect(await virshState()).toBe('shut off');
    expect((await virshOk(['dominfo', '--domain', domain.name])).match(/Managed save:\s+(\w+)/)?.[1]).toBe('yes');

    const refused = await boxyard('start', 'vm-box');
    expect(refused).toEqual({ code: 1, stdout: '', stderr: `boxyard: ${domain.name} is suspended: resume it instead of starting it.\n` });

    const resumed = await boxyard('resume', 'vm-box');
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/^Step \d of \d: Resume the VM$/m);
    expect(await virshState()).toBe('running');
  }, 120_000);

  it('stop --timeout powers off a VM that ignores the shutdown request, and the log line says so', async () => {
    const stopped = await boxyard('stop', '--timeout', '3', 'vm-box');
    expect(stopped.code).toBe(0);
    expect(stopped.stderr.split('\n')).toContain(`${domain.name} did not shut down within 3 s: it was powered off (forced).`);
    expect(await virshState()).toBe('shut off');

    const badTimeout = await boxyard('stop', '--timeout', '1', 'vm-box');
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toMatch(/^boxyard: --timeout 1 is not a number of seconds from 2 to 3600\n/);
  }, 120_000);

  it("a job that does not succeed: exit code 1 with the job's end in one sentence, and --json still prints the job", async () => {
    expect((await boxyard('start', 'vm-box')).code).toBe(0);
    // The VM ignores the shutdown request, so the stop job waits out its timeout: an admin cancels it meanwhile.
    const stopping = boxyard('stop', '--timeout', '120', '--json', 'vm-box');
    const job = await until(() => backend.services.db.job.findFirst({ where: { kind: 'vm.stop', status: 'running' } }), 'the stop job running', 60_000);
    expect(await backend.services.jobs.cancel(job.id, backend.admin.user)).toBe('requested');
    const stopped = await stopping;
    expect(stopped.code).toBe(1);
    expect(JSON.parse(stopped.stdout)).toMatchObject({ id: job.id, kind: 'vm.stop', status: 'cancelled' });
    expect(stopped.stderr).toMatch(/\nboxyard: stop of vm-box cancelled: [^\n]+\n$/);
  }, 120_000);

  it('a box that is not a VM, and an unknown box, are one sentence and exit code 1', async () => {
    expect(await boxyard('suspend', 'plain-box')).toEqual({ code: 1, stdout: '', stderr: 'boxyard: plain-box is not a VM on a hypervisor host known to Boxyard.\n' });
    expect(await boxyard('resume', 'no-such-box')).toEqual({
      code: 1,
      stdout: '',
      stderr: `boxyard: no box named no-such-box among the ones you may reach on ${url} (\`boxyard ls\` lists them)\n`,
    });
  }, 60_000);
});

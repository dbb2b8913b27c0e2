import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import { addSshKey } from '../access-keys/ssh-keys';
import type { SessionUser } from '../boxes/access';
import { createBox } from '../boxes/boxes';
import { loadEnv } from '../env';
import { isAppError } from '../errors';
import { StepFailed, type StepContext } from '../jobs/recipe';
import { startServices, stopServices, type Services } from '../services';
import { sh } from '../ssh/quote';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { createUser } from '../users/users';
import { installDeveloperKeys, renderAuthorizedKeys } from './authorized-keys';

const BEGIN = '# BEGIN boxyard managed keys (do not edit)';
const END = '# END boxyard managed keys';
const alice = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA7d0VbZzMlCuIZ0m9x1Q4oJ0Yv5xq2v6y0q7fJ9kV1a alice@example.com: laptop';
const bob = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx3f0m0zq1O8r1y6p3h4yFq0cM5b2nH8sJ7dT2xK9cL bob@example.com: desktop';
const block = (keys: string[], eol = '\n') => [BEGIN, ...keys, END].map((line) => line + eol).join('');

describe('renderAuthorizedKeys', () => {
  const dashboard = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDashboardKeyDashboardKeyDashboardKey00 boxyard\n';

  it('no block yet: appends it after the existing lines, which stay as they are', () => {
    const existing = `${dashboard}from="10.0.0.0/8",no-pty ssh-rsa AAAAB3Nza ops  \n# a comment\n\n`;
    expect(renderAuthorizedKeys(existing, [alice, bob])).toBe(existing + block([alice, bob]));
    expect(renderAuthorizedKeys('', [alice])).toBe(block([alice]));
  });

  it('block present: replaces only the block', () => {
    const existing = dashboard + block([alice]);
    expect(renderAuthorizedKeys(existing, [alice, bob])).toBe(dashboard + block([alice, bob]));
  });

  it('block in the middle: the lines before and after it stay byte for byte', () => {
    const before = `${dashboard}# before\n`;
    const after = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAfterAfterAfterAfterAfterAfterAfterAf after\t\n\n# last';
    expect(renderAuthorizedKeys(before + block([alice, bob]) + after, [bob])).toBe(before + block([bob]) + after);
  });

  it('CRLF: the block is written with the file\'s own line endings', () => {
    const existing = dashboard.replace('\n', '\r\n');
    const once = renderAuthorizedKeys(existing, [alice]);
    expect(once).toBe(existing + block([alice], '\r\n'));
    expect(renderAuthorizedKeys(once, [alice])).toBe(once);
    expect(renderAuthorizedKeys(once, [bob])).toBe(existing + block([bob], '\r\n'));
  });

  it('no trailing newline: the last line is ended before the block, and nothing else changes', () => {
    expect(renderAuthorizedKeys(dashboard.trimEnd(), [alice])).toBe(dashboard + block([alice]));
  });

  it('is idempotent', () => {
    const once = renderAuthorizedKeys(`${dashboard}# mine\n`, [alice, bob]);
    expect(renderAuthorizedKeys(once, [alice, bob])).toBe(once);
  });

  it('duplicate or unbalanced markers: refuses with a plain error', () => {
    const twice = dashboard + block([alice]) + block([bob]);
    expect(() => renderAuthorizedKeys(twice, [alice])).toThrow(StepFailed);
    expect(() => renderAuthorizedKeys(twice, [alice])).toThrow(
      `~/.ssh/authorized_keys cannot be updated safely: it has more than one "${BEGIN}" line; remove the extra block by hand, then run again`,
    );
    expect(() => renderAuthorizedKeys(`${dashboard}${BEGIN}\n${alice}\n`, [alice])).toThrow(/do not pair up/);
  });

  it('an empty key list removes the block, markers included', () => {
    expect(renderAuthorizedKeys(`${dashboard}${block([alice, bob])}# after\n`, [])).toBe(`${dashboard}# after\n`);
    expect(renderAuthorizedKeys(dashboard, [])).toBe(dashboard);
    expect(renderAuthorizedKeys('', [])).toBe('');
  });
});

/**
 * The step on a real lab box. Its context is what the job runner gives steps once the proposal in authorized-keys.ts
 * lands (the database, and ctx.exec passing stdin on to SshPool.exec); everything else is the dashboard's own code.
 */
describe('Install developer keys on a lab box', () => {
  let services: Services;
  let lab: LabBox;
  let admin: SessionUser;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-authorized-keys-'));
  const people = {} as Record<'alice' | 'bob' | 'carol', { user: SessionUser; privateKey: string; publicKey: string }>;

  beforeAll(async () => {
    lab = await startLabBox({ namePrefix: 'authkeys' });
    ({ services } = await startServices(loadEnv({ BOXYARD_DATA_DIR: dataDir, BOXYARD_ADMIN_PASSWORD: 'authorized-keys-test' }), { pollStatus: false, runJobs: false }));
    await lab.authorize(services.dashboardPublicKey);
    const row = await services.db.user.findFirstOrThrow({ where: { role: 'admin' } });
    admin = { id: row.id, email: row.email, name: row.name, role: 'admin' };
    for (const name of ['alice', 'bob', 'carol'] as const) {
      const created = await createUser(services.db, { email: `${name}@example.com`, name, password: 'a-long-password', role: 'developer' });
      const user: SessionUser = { id: created.id, email: created.email, name, role: 'developer' };
      const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: `${name}@laptop` });
      await addSshKey(services.db, user, { name: 'laptop', publicKey: pair.public });
      people[name] = { user, privateKey: pair.private, publicKey: pair.public };
    }
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    await stopServices(services);
    await lab.remove();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function addBox(name: string, auth: Parameters<typeof createBox>[3]['auth'] = { method: 'dashboard-key' }) {
    return createBox(services.db, services.secrets, admin, {
      name, host: lab.host, port: lab.port, sshUser: 'dev', tags: [], notes: '', ownerId: people.alice.user.id, memberIds: [people.bob.user.id], auth,
    });
  }

  function stepContext(box: { id: string; name: string }, options: { dropStdin?: boolean } = {}): StepContext<unknown, object> & { logs: string[] } {
    const logs: string[] = [];
    return {
      jobId: 'test',
      box: { id: box.id, name: box.name, sshUser: 'dev' },
      host: null,
      refreshSession: () => {},
      hostExec: () => Promise.reject(new Error('no host in this test')),
      params: {},
      state: {},
      signal: new AbortController().signal,
      db: services.db,
      logs,
      log: async (text) => void logs.push(text),
      async exec(command, execOptions = {}) {
        const row = await services.db.box.findUniqueOrThrow({ where: { id: box.id } });
        const stdin = options.dropStdin ? undefined : execOptions.stdin;
        return services.pool.exec(box.id, services.remote.target(row), command, { timeoutMs: execOptions.timeoutMs, stdin });
      },
    };
  }

  /** check, then apply + verify when needed, as the runner does; true when it changed the box. */
  async function runStep(ctx: StepContext<unknown, object>): Promise<boolean> {
    if (await installDeveloperKeys.check(ctx)) return false;
    await installDeveloperKeys.apply(ctx);
    await installDeveloperKeys.verify(ctx);
    return true;
  }

  async function rootOk(command: string): Promise<string> {
    const result = await lab.root(command);
    if (result.code !== 0) throw new Error(`${command} failed in the box: ${result.stderr}`);
    return result.stdout;
  }

  const FILE = '/home/dev/.ssh/authorized_keys';
  const readBytes = async () => Buffer.from(await rootOk(`base64 -w0 ${FILE}`), 'base64');
  const writeBytes = (content: string) =>
    rootOk(`echo ${Buffer.from(content).toString('base64')} | base64 -d > ${FILE} && chown dev:dev ${FILE} && chmod 600 ${FILE}`);
  const modes = async () => (await rootOk(`stat -c %a /home/dev/.ssh ${FILE}`)).trim().split('\n');

  /** A fresh SSH login as dev with a developer's own key: proof that sshd accepts the written file. */
  async function logsInAs(person: { privateKey: string }): Promise<boolean> {
    const target = { host: lab.host, port: lab.port, username: 'dev', auth: { kind: 'key' as const, privateKey: person.privateKey } };
    const id = `login-${Math.random()}`;
    try {
      return (await services.pool.exec(id, target, sh`true`, { timeoutMs: 15_000 })).code === 0;
    } catch (error) {
      if (isAppError(error, 'SSH_AUTH_FAILED')) return false;
      throw error;
    } finally {
      await services.pool.evict(id);
    }
  }

  const keyOf = (name: 'alice' | 'bob' | 'carol') => people[name].publicKey.split(' ').slice(0, 2).join(' ');

  let custom: string;
  let boxId: string;

  it('installs the owner\'s and members\' keys, keeping every other line (the dashboard\'s key included) byte for byte', async () => {
    const box = await addBox('keys-box');
    boxId = box.id;
    const existing = (await readBytes()).toString('utf8');
    // The lab's key and the dashboard's key are already there; add lines a person may have written.
    custom = `${existing}# added by hand: keep me\ncommand="echo hi",no-pty ${lab.publicKey.split(' ').slice(0, 2).join(' ')} restricted  \n\n# no newline at the end`;
    await writeBytes(custom);

    const ctx = stepContext(box);
    expect(await runStep(ctx)).toBe(true);
    const written = (await readBytes()).toString('utf8');
    expect(written.startsWith(`${custom}\n${BEGIN}\n`)).toBe(true);
    expect(written).toBe(
      `${custom}\n${block([`${keyOf('alice')} alice@example.com: laptop`, `${keyOf('bob')} bob@example.com: laptop`])}`,
    );
    expect(written).not.toContain(keyOf('carol'));
    expect(await modes()).toEqual(['700', '600']);
    expect(ctx.logs).toContain('Installed 2 key(s) of alice@example.com, bob@example.com for dev.');
    expect(await logsInAs(people.alice)).toBe(true);
    expect(await logsInAs(people.bob)).toBe(true);
    expect(await logsInAs(people.carol)).toBe(false);
  });

  it('a second run finds the block in place and changes nothing', async () => {
    const before = await readBytes();
    const mtime = await rootOk(`stat -c %Y.%y ${FILE}`);
    expect(await runStep(stepContext({ id: boxId, name: 'keys-box' }))).toBe(false);
    expect((await readBytes()).equals(before)).toBe(true);
    expect(await rootOk(`stat -c %Y.%y ${FILE}`)).toBe(mtime);
  });

  it('removing a member removes their key, and only that', async () => {
    await services.db.boxMember.deleteMany({ where: { boxId, userId: people.bob.user.id } });
    expect(await runStep(stepContext({ id: boxId, name: 'keys-box' }))).toBe(true);
    expect((await readBytes()).toString('utf8')).toBe(`${custom}\n${block([`${keyOf('alice')} alice@example.com: laptop`])}`);
    expect(await logsInAs(people.bob)).toBe(false);
    expect(await logsInAs(people.alice)).toBe(true);
  });

  it('an exec whose stdin never arrives fails plainly and leaves the file as it was', async () => {
    await services.db.boxMember.create({ data: { boxId, userId: people.carol.user.id } });
    const before = await readBytes();
    const ctx = stepContext({ id: boxId, name: 'keys-box' }, { dropStdin: true });
    expect(await installDeveloperKeys.check(ctx)).toBe(false);
    await expect(installDeveloperKeys.apply(ctx)).rejects.toThrow(/did not reach the box on stdin.*nothing was changed/);
    expect((await readBytes()).equals(before)).toBe(true);
    expect(await rootOk('ls -A /home/dev/.ssh')).not.toContain('boxyard-tmp');
  });

  it('creates ~/.ssh (700) and authorized_keys (600) when they are missing', async () => {
    // Logs in with the password: the dashboard's key goes away with the folder.
    const box = await addBox('no-ssh-dir', { method: 'password', password: lab.password });
    await rootOk('rm -rf /home/dev/.ssh');
    expect(await runStep(stepContext(box))).toBe(true);
    expect(await modes()).toEqual(['700', '600']);
    expect((await readBytes()).toString('utf8')).toBe(block([`${keyOf('alice')} alice@example.com: laptop`, `${keyOf('bob')} bob@example.com: laptop`]));
    expect(await rootOk('stat -c %U:%G /home/dev/.ssh /home/dev/.ssh/authorized_keys')).toBe('dev:dev\ndev:dev\n');
    expect(await logsInAs(people.bob)).toBe(true);
  });
});

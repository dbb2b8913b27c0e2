// The authorization matrix, generated from the router itself: every procedure of appRouter is called as no user, as a
// developer naming another developer's resources, as a member of that developer's box, and as a developer naming
// their own resources, and must refuse (UNAUTHORIZED; FORBIDDEN or NOT_FOUND, the NOT_FOUND exactly as for an unknown
// id; FORBIDDEN for an admin's procedure). A procedure meant for everyone is listed below with why; a procedure added later is in the matrix
// without editing this test, and fails it until `inputs` has an entry for it.
//
// Real services (database, jobs, terminals, SSH pool) and a lab box's sshd: the other developer's box has an open
// terminal of theirs, a job, a suspend policy, an SSH key and an API token, all made through domain functions.
import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { createApiToken } from '../access-keys/api-tokens';
import { addSshKey } from '../access-keys/ssh-keys';
import type { SessionUser } from '../boxes/access';
import { createGroup } from '../groups/groups';
import { createHost } from '../hosts/hosts';
import { savePolicy } from '../metrics/policies';
import { provisionDocker } from '../provision/provision';
import { generateDashboardKeyPair } from '../ssh/keys';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { startBackend, TestTerminal, type Backend, type TestUser } from '../../testing/helpers/terminals';
import { appRouter } from './router';

/** The resources a call names: one developer's, or ids that exist nowhere. */
interface Ids {
  user: string;
  box: string;
  boxName: string;
  host: string;
  job: string;
  key: string;
  token: string;
  policy: string;
  terminal: string;
  group: string;
  session: string;
}

/** Procedures anyone may call, signed in or not, and why. */
const publicProcedures: Record<string, string> = {
  'settings.publicOrigin': 'BOXYARD_URL is no secret: the sign-in page uses it to warn when the dashboard is opened on another address',
  'signIn.options': 'the sign-in page shows "Sign in with <provider>" and the password form before anyone is signed in',
};

/**
 * Procedures every signed-in developer may call whatever the input names, and why. They answer about the caller
 * alone, so the answer must not mention the other developer's resources.
 */
const openToEveryDeveloper: Record<string, string> = {
  ...publicProcedures,
  'users.me': 'who the caller is',
  'boxes.list': 'the boxes the caller owns or was given',
  'boxes.fleet': 'the boxes the caller owns or was given',
  'jobs.list': 'the jobs of the boxes the caller may reach (a box id of someone else filters to nothing)',
  'jobs.page': 'the jobs of the boxes the caller may reach (a box id of someone else filters to nothing)',
  'jobs.filterOptions': 'the boxes, kinds and people of the jobs the caller may see',
  'terminals.list': "the caller's own open terminals",
  'metrics.fleet': 'metrics of the boxes the caller may reach',
  'profile.keys.list': "the caller's own SSH keys",
  'profile.keys.add': 'adds a key to the caller alone',
  'profile.tokens.list': "the caller's own API tokens",
  'profile.tokens.create': 'makes a token for the caller alone',
  'profile.sessions.list': "the caller's own browser sessions",
  'connect.cliInstall': "the line that installs the CLI from this dashboard (the dashboard's address only)",
  'settings.dashboardPublicKey': "the dashboard's public key, which every box owner puts in authorized_keys",
  'mounts.preview': 'compiles the mounts it is given; reads nothing stored',
  'previews.settings': "how previews are served on this dashboard and whether public links are allowed; names no box",
};

/**
 * Procedures a box's people (its owner and its members) may call on it, and why. They still refuse the same call on a
 * box the caller is not one of the people of; they are not called on the caller's own box here (most of them reach it
 * over SSH): the area tests do that.
 */
const openToABoxsPeople: Record<string, string> = {
  'boxes.get': "a box's people see it",
  'boxes.refresh': "a box's people may reconnect it and gather its facts",
  'boxes.containers': "a box's people see its containers",
  'connect.snippets': "the ssh config of a box the caller may reach",
  'metrics.series': "a box's people see its metrics",
  'metrics.status': "a box's people see its idle status",
  'metrics.watch': "a box's page samples faster while it is open",
  'metrics.ports': "a box's people see what listens on it",
  'metrics.followPorts': "a box's people follow what listens on it (forward --auto)",
  'mounts.get': "a box's people see its mounts",
  'mounts.exportYaml': "a box's people see its mounts",
  'vms.ofBox': "a box's people see its VM",
  'vms.boxAction': "a box's people start, stop, suspend and resume its VM",
  'vms.power': "a box's people reboot or power off a VPS box, typing its name",
  'jobs.get': 'the jobs of a box the caller may reach',
  'jobs.logs': 'the jobs of a box the caller may reach',
  'previews.shares': "a box's people see which of its ports are shared (the public links only its owner and admins)",
};

/** Procedures only the owner of a resource may call on it (a box's members may not), and why; not called here either. */
const openToTheOwner: Record<string, string> = {
  'mounts.save': "the box's owner decides its mounts (the host folders that may be shared are an admin's decision)",
  'mounts.importYaml': "the box's owner decides its mounts",
  'mounts.applyPolicy': "the box's owner applies its mounts",
  'mounts.measure': "the box's owner measures its mounts",
  'mounts.writeBack': "the box's owner writes its delegated mounts back",
  'previews.share': "the box's owner decides who else may open its ports",
  'previews.revoke': "the box's owner decides who else may open its ports",
  'terminals.close': "the caller's own terminal",
  'profile.keys.remove': "the caller's own SSH key",
  'profile.tokens.revoke': "the caller's own API token",
  'profile.sessions.end': "the caller's own browser session",
};

const developerKey = generateDashboardKeyPair('matrix').publicKey;

/** A valid input of each procedure, naming the resources in `ids`. */
const inputs: Record<string, (ids: Ids) => unknown> = {
  'boxes.list': () => ({}),
  'boxes.fleet': () => undefined,
  'boxes.get': ({ box }) => ({ id: box }),
  'boxes.create': ({ user }) => ({ name: 'matrix-new', host: '127.0.0.1', port: 9, sshUser: 'dev', ownerId: user, auth: { method: 'dashboard-key' } }),
  'boxes.update': ({ box }) => ({ id: box, port: 2222, notes: 'changed' }),
  'boxes.delete': ({ box }) => ({ id: box }),
  'boxes.refresh': ({ box }) => ({ id: box }),
  'boxes.containers': ({ box }) => ({ id: box }),
  'boxes.repin': ({ box }) => ({ id: box, fingerprint: `SHA256:${'A'.repeat(43)}` }),
  'users.me': () => undefined,
  'users.list': () => undefined,
  'users.create': () => ({ email: 'matrix-new@example.com', name: 'New', password: 'a-long-password', role: 'admin' }),
  'users.setRole': ({ user }) => ({ id: user, role: 'admin' }),
  'users.delete': ({ user }) => ({ id: user }),
  'users.requireNewPassword': ({ user }) => ({ id: user }),
  'audit.list': ({ box }) => ({ boxId: box }),
  'audit.page': ({ box }) => ({ boxId: box }),
  'audit.export': ({ box }) => ({ boxId: box, format: 'json' }),
  'settings.dashboardPublicKey': () => undefined,
  'settings.publicOrigin': () => undefined,
  'settings.firstRun': () => undefined,
  'system.stats': () => undefined,
  'terminals.list': () => undefined,
  'terminals.close': ({ terminal }) => ({ id: terminal }),
  'jobs.list': ({ box }) => ({ boxId: box }),
  'jobs.get': ({ job }) => ({ id: job }),
  'jobs.cancel': ({ job }) => ({ id: job }),
  'jobs.retry': ({ job }) => ({ id: job }),
  'jobs.page': ({ box }) => ({ boxId: box }),
  'jobs.filterOptions': () => undefined,
  'jobs.logs': ({ job }) => ({ id: job }),
  'provision.docker': ({ box }) => ({ boxId: box }),
  'profile.keys.list': () => undefined,
  'profile.keys.add': () => ({ name: 'matrix key', publicKey: developerKey }),
  'profile.keys.remove': ({ key }) => ({ id: key }),
  'profile.tokens.list': () => undefined,
  'profile.tokens.create': () => ({ name: 'matrix token' }),
  'profile.tokens.revoke': ({ token }) => ({ id: token }),
  'connect.snippets': ({ box }) => ({ boxId: box }),
  'connect.cliInstall': () => undefined,
  'hosts.list': () => undefined,
  'hosts.get': ({ host }) => ({ id: host }),
  'hosts.create': () => ({ name: 'matrix-host', kind: 'ssh', host: '127.0.0.1', port: 9, sshUser: 'dev', auth: { method: 'dashboard-key' } }),
  'hosts.delete': ({ host }) => ({ id: host }),
  'hosts.setShareRoots': ({ host }) => ({ id: host, roots: ['/Users/*/src'] }),
  'hosts.vms': ({ host }) => ({ id: host }),
  'mounts.get': ({ box }) => ({ boxId: box }),
  'mounts.save': ({ box }) => ({ boxId: box, mounts: [{ hostPath: '/srv/src', guestPath: '/src', transport: 'sshfs' }] }),
  'mounts.preview': () => ({ mounts: [] }),
  'mounts.importYaml': ({ box }) => ({ boxId: box, yaml: 'version: 1\nmounts: []\n' }),
  'mounts.exportYaml': ({ box }) => ({ boxId: box }),
  'mounts.applyPolicy': ({ box }) => ({ boxId: box }),
  'mounts.measure': ({ box }) => ({ boxId: box }),
  'mounts.writeBack': ({ box }) => ({ boxId: box }),
  'metrics.fleet': () => undefined,
  'metrics.series': ({ box }) => ({ boxId: box, from: 0, to: 60_000 }),
  'metrics.status': ({ box }) => ({ boxId: box }),
  'metrics.watch': ({ box }) => ({ boxId: box }),
  'metrics.ports': ({ box }) => ({ boxId: box }),
  'metrics.followPorts': ({ box }) => ({ boxId: box }),
  'metrics.settings': () => undefined,
  'metrics.updateSettings': () => ({ idleCpuPct: 50 }),
  'metrics.rotateToken': () => undefined,
  'metrics.policies': () => undefined,
  'metrics.savePolicy': ({ box }) => ({ boxId: box, idleMinutes: 30, action: 'power-off' }),
  'metrics.deletePolicy': ({ policy }) => ({ id: policy }),
  'vms.onHost': ({ host }) => ({ hostId: host }),
  'vms.hostAction': ({ host }) => ({ hostId: host, vmId: 'matrix-vm', action: 'stop' }),
  'vms.ofBox': ({ box }) => ({ boxId: box }),
  'vms.boxAction': ({ box }) => ({ boxId: box, action: 'stop' }),
  'vms.import': ({ host }) => ({ hostId: host, vmId: 'matrix-vm', name: 'matrix-import', sshUser: 'dev', address: {} }),
  'vms.fromTemplate': ({ host }) => ({ hostId: host, templateId: 'matrix-template', name: 'matrix-template-box', sshUser: 'dev', address: {} }),
  'vms.power': ({ box, boxName }) => ({ boxId: box, action: 'poweroff', confirmName: boxName }),
  'profile.sessions.list': () => undefined,
  'profile.sessions.end': ({ session }) => ({ id: session }),
  'users.endAllSessions': ({ user }) => ({ id: user }),
  'signIn.options': () => undefined,
  'signIn.setPassword': () => ({ enabled: true }),
  'groups.list': () => undefined,
  'groups.create': () => ({ name: 'matrix-group' }),
  'groups.save': ({ group, box, user }) => ({ id: group, boxIds: [box], tags: ['matrix'], memberIds: [user] }),
  'groups.delete': ({ group }) => ({ id: group }),
  'previews.settings': () => undefined,
  'previews.shares': ({ box }) => ({ boxId: box }),
  'previews.share': ({ box }) => ({ boxId: box, port: 3000, level: 'authenticated' }),
  'previews.revoke': ({ box }) => ({ boxId: box, port: 3000 }),
  'previews.setPublicSharing': () => ({ allowed: true }),
};

type Procedure = { _def: { type: 'query' | 'mutation' | 'subscription'; inputs: z.ZodType[] } };
const procedures = (appRouter as unknown as { _def: { procedures: Record<string, Procedure> } })._def.procedures;
const paths = Object.keys(procedures).sort();

type Outcome = { code: string; message: string } | { code: 'OK'; result: unknown };

describe('authorization matrix over every procedure of the router', () => {
  let lab: LabBox;
  let backend: Backend;
  let url: string;
  let alice: TestUser;
  let bob: TestUser;
  /** A member of Bob's box. */
  let carol: TestUser;
  let terminal: TestTerminal;
  let alices: Ids;
  let bobs: Ids;
  const unknown: Ids = {
    user: 'no-such-user',
    box: 'no-such-box',
    boxName: 'no-such-box',
    host: 'no-such-host',
    job: 'no-such-job',
    key: 'no-such-key',
    token: 'no-such-token',
    policy: 'no-such-policy',
    terminal: randomUUID(),
    group: 'no-such-group',
    session: 'no-such-session',
  };

  beforeAll(async () => {
    lab = await startLabBox({ namePrefix: 'authz' });
    // One attempt per job step: the seeded jobs' boxes cannot be reached, and they should fail at once.
    backend = await startBackend({ JOB_STEP_ATTEMPTS: '1' });
    await lab.authorize(backend.services.dashboardPublicKey);
    url = await backend.listen();
    const { services, admin } = backend;
    alice = await backend.addUser('alice@example.com');
    bob = await backend.addUser('bob@example.com');
    carol = await backend.addUser('carol@example.com');
    const offline: LabBox = { ...lab, port: 9 };
    const host = await createHost(services.db, services.secrets, { name: 'seeded-hv', kind: 'ssh', host: '127.0.0.1', port: 9, sshUser: 'dev', auth: { method: 'dashboard-key' } });

    const seed = async (person: TestUser, name: string, members: TestUser[] = []): Promise<Ids> => {
      const box = await backend.addBox(name, lab, person, members);
      const offlineBox = await backend.addBox(`${name}-offline`, offline, person, members);
      const { jobId } = await provisionDocker(services, admin.user, { boxId: offlineBox.id });
      const key = await addSshKey(services.db, person.user, { name: `${name} laptop`, publicKey: generateDashboardKeyPair(name).publicKey });
      const { apiToken } = await createApiToken(services.db, person.user, `${name} token`);
      const policy = await savePolicy(services.db, { boxId: box.id, idleMinutes: 60, action: 'suspend', enabled: true });
      const group = await createGroup(services.db, admin.user, `${name} group`);
      const session = await services.db.session.findFirstOrThrow({ where: { userId: person.user.id } });
      return { user: person.user.id, box: box.id, boxName: box.name, host: host.id, job: jobId, key: key.id, token: apiToken.id, policy: policy.id, terminal: '', group: group.id, session: session.id };
    };
    alices = await seed(alice, 'alice-box');
    bobs = await seed(bob, 'bob-box', [carol]);
    terminal = new TestTerminal(url, bobs.box, { cookie: bob.cookie, origin: backend.origin });
    await terminal.untilMessage('state', (m) => m.state === 'ready', 30_000);
    bobs.terminal = terminal.session;
    alices.terminal = randomUUID();
  }, LAB_START_TIMEOUT_MS + 60_000);

  afterAll(async () => {
    terminal?.ws.terminate();
    await backend?.stop();
    await lab?.remove();
  });

  /** Calls `path` as `user` with the table's input for `ids`; a subscription is read up to its first event. */
  async function outcome(path: string, user: SessionUser | null, ids: Ids): Promise<Outcome> {
    const caller = appRouter.createCaller({ services: backend.services, user });
    const procedure = path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], caller) as (input: unknown) => Promise<unknown>;
    try {
      let result = await procedure(inputs[path]!(ids));
      if (procedures[path]!._def.type === 'subscription') {
        const events = (result as AsyncIterable<unknown>)[Symbol.asyncIterator]();
        result = (await events.next()).value;
        await events.return?.();
      }
      return { code: 'OK', result };
    } catch (error) {
      if (!(error instanceof TRPCError)) throw error;
      return { code: error.code, message: error.message };
    }
  }

  const mentions = (result: unknown, ids: Ids) => {
    const text = JSON.stringify(result) ?? '';
    return [ids.box, ids.boxName, ids.job, ids.key, ids.token, ids.terminal, ids.session].filter((id) => text.includes(id));
  };

  it('has an input for every procedure, valid for its input schema', () => {
    const missing = paths.filter((path) => !inputs[path]);
    expect(missing, 'add an entry to `inputs` in server/trpc/authorization.test.ts for each of these procedures').toEqual([]);
    const stale = Object.keys({ ...inputs, ...openToEveryDeveloper, ...openToABoxsPeople, ...openToTheOwner }).filter((path) => !procedures[path]);
    expect(stale, 'these procedures are gone: remove them from the lists in this test').toEqual([]);
    for (const path of paths) {
      for (const schema of procedures[path]!._def.inputs) {
        const parsed = schema.safeParse(inputs[path]!(bobs));
        expect(parsed.success, `the input of ${path} in this test: ${parsed.error?.message}`).toBe(true);
      }
    }
  });

  it.each(paths)('%s: no user is refused as UNAUTHORIZED (unless public)', async (path) => {
    const answer = await outcome(path, null, bobs);
    if (publicProcedures[path]) expect(answer.code).toBe('OK');
    else expect(answer).toEqual({ code: 'UNAUTHORIZED', message: 'Sign in first (your session may have expired).' });
  });

  it.each(paths)("%s: a developer naming another developer's resources is refused, as for an unknown id", async (path) => {
    const answer = await outcome(path, alice.user, bobs);
    if (openToEveryDeveloper[path]) {
      expect(answer.code, `${path} is open to every developer`).toBe('OK');
      expect(mentions((answer as { result: unknown }).result, bobs), `${path} answered about the other developer's resources`).toEqual([]);
      return;
    }
    expect(['FORBIDDEN', 'NOT_FOUND'], `${path} answered ${JSON.stringify(answer).slice(0, 300)}`).toContain(answer.code);
    if (answer.code === 'NOT_FOUND') expect(await outcome(path, alice.user, unknown)).toEqual(answer);
  });

  it.each(paths.filter((path) => !openToEveryDeveloper[path] && !openToABoxsPeople[path]))(
    "%s: a member of another developer's box is refused what only its owner or an admin may do",
    async (path) => {
      const answer = await outcome(path, carol.user, bobs);
      expect(['FORBIDDEN', 'NOT_FOUND'], `${path} answered ${JSON.stringify(answer).slice(0, 300)}`).toContain(answer.code);
      if (answer.code === 'NOT_FOUND') expect(await outcome(path, carol.user, unknown)).toEqual(answer);
    },
  );

  it.each(paths.filter((path) => !openToEveryDeveloper[path] && !openToABoxsPeople[path] && !openToTheOwner[path]))(
    "%s: a developer is refused an admin's procedure, even on their own resources",
    async (path) => {
      expect(await outcome(path, alice.user, alices)).toEqual({ code: 'FORBIDDEN', message: 'Only admins (team leads) can do this.' });
    },
  );

  it("leaves the other developer's resources as they were", async () => {
    const { db } = backend.services;
    const box = await db.box.findUniqueOrThrow({ where: { id: bobs.box }, include: { members: true } });
    expect({ port: box.port, notes: box.notes, members: box.members.map((m) => m.userId) }).toEqual({ port: lab.port, notes: '', members: [carol.user.id] });
    expect(await db.userSshKey.findUnique({ where: { id: bobs.key } })).not.toBeNull();
    expect((await db.apiToken.findUniqueOrThrow({ where: { id: bobs.token } })).revokedAt).toBeNull();
    expect(await db.suspendPolicy.findUnique({ where: { id: bobs.policy } })).toMatchObject({ action: 'suspend', idleMinutes: 60 });
    expect(await db.mount.count({ where: { boxId: bobs.box } })).toBe(0);
    expect(await db.portShare.count({ where: { boxId: bobs.box } })).toBe(0);
    expect((await db.user.findUniqueOrThrow({ where: { id: bobs.user } })).role).toBe('developer');
    expect(backend.services.terminals.list(bob.user).map((session) => session.id)).toContain(bobs.terminal);
    expect(await db.box.count({ where: { name: { startsWith: 'matrix-' } } })).toBe(0);
    expect(await db.host.count({ where: { name: { startsWith: 'matrix-' } } })).toBe(0);
    expect(await db.user.count({ where: { email: { startsWith: 'matrix-' } } })).toBe(0);
    expect(await db.session.findUnique({ where: { id: bobs.session } })).not.toBeNull();
    expect(await db.group.count({ where: { name: { startsWith: 'matrix-' } } })).toBe(0);
    expect(await db.groupBox.count({ where: { groupId: bobs.group } })).toBe(0);
  });
});

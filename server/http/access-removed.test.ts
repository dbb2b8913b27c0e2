// Access removed, what is open ends: for each way a user's access to a box goes away, their browser terminals
// (attached and detached) and their laptop tunnels on that box close within 5 s, with a close code and a sentence
// the browser shows and the CLI prints, and each ending is audited. What they may still reach stays open.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeCodes } from '../../lib/terminal-protocol';
import { createApiToken, revokeApiToken } from '../access-keys/api-tokens';
import type { SessionUser } from '../boxes/access';
import { deleteBox, updateBox } from '../boxes/boxes';
import { deleteUser, requireNewPassword, setRole } from '../users/users';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { startBackend, TestTerminal, type Backend, type TestUser } from '../../testing/helpers/terminals';
import { TunnelClient } from '../../testing/helpers/tunnels';
import { until } from '../../testing/helpers/wait';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import { appRouter } from '../trpc/router';

/** The promise of issue 14: access removed, every session of it ends within this. */
const ENDS_WITHIN_MS = 5_000;

describe('access removed ends terminals and tunnels', () => {
  let backend: Backend;
  let lab: LabBox;
  let base: string;
  let boxes = 0;
  let users = 0;

  beforeAll(async () => {
    [backend, lab] = await Promise.all([startBackend(), startLabBox({ namePrefix: 'revoke' })]);
    await lab.authorize(backend.services.dashboardPublicKey);
    base = await backend.listen();
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    await backend?.stop();
    await lab?.remove();
  });

  const addUser = (role: SessionUser['role'] = 'developer') => backend.addUser(`user${++users}@example.com`, role);
  const addBox = (owner: TestUser, members: TestUser[] = []) => backend.addBox(`revoke-${++boxes}`, lab, owner, members);

  /** A browser terminal on the box, its shell ready. */
  const openTerminal = async (user: TestUser, boxId: string) => {
    const terminal = new TestTerminal(base, boxId, { cookie: user.cookie, origin: backend.origin });
    await terminal.untilMessage('state', (m) => m.state === 'ready');
    return terminal;
  };
  /** A detached terminal: its shell runs on with no tab attached. */
  const openDetached = async (user: TestUser, boxId: string) => {
    const terminal = await openTerminal(user, boxId);
    await terminal.drop();
    return terminal.session;
  };
  /** A laptop's tunnel to the box's sshd: by API token (the CLI), or by the session cookie from the dashboard's origin. */
  const openTunnel = async (user: TestUser, box: { name: string }, via: 'token' | 'cookie' = 'token') => {
    const headers: Record<string, string> =
      via === 'token'
        ? { authorization: `Bearer ${(await createApiToken(backend.services.db, user.user, 'revoke test')).token}` }
        : { cookie: user.cookie, origin: backend.origin };
    const tunnel = new TunnelClient(base, { box: box.name }, headers);
    await tunnel.ready();
    return tunnel;
  };

  /** The close of `closed`, which must come within ENDS_WITHIN_MS of now (the access change just made). */
  const closesWithin = async (what: string, closed: Promise<{ code: number; reason: string }>) => {
    const since = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} was still open ${ENDS_WITHIN_MS} ms after the access change`)), ENDS_WITHIN_MS);
    });
    try {
      const close = await Promise.race([closed, late]);
      expect(performance.now() - since).toBeLessThan(ENDS_WITHIN_MS);
      return close;
    } finally {
      clearTimeout(timer);
    }
  };

  const expectTerminalEnded = async (terminal: TestTerminal, ending: { code: number; reason: string }) => {
    expect(await closesWithin('the terminal', terminal.closed)).toEqual(ending);
    // The browser shows the `done` reason ("Session ended: ...") even where a close frame's reason is lost.
    expect(terminal.messages.at(-1)).toEqual({ type: 'state', state: 'done', reason: ending.reason });
  };

  /** The audit row of each ended terminal session, by id: the reason, ended by the dashboard (the system actor). */
  const expectTerminalAudits = async (sessions: string[], reason: string) => {
    for (const session of sessions) {
      const row = await until(
        () => backend.services.db.auditEvent.findFirst({ where: { action: 'terminal.close', detail: { contains: session } } }),
        `the terminal.close audit of ${session}`,
        5_000,
      );
      expect({ reason: JSON.parse(row.detail).reason, actor: row.actorEmail, result: row.result }).toEqual({ reason, actor: null, result: 'ok' });
    }
  };

  const expectTunnelAudit = async (boxId: string, ending: { code: number; reason: string }, count = 1) => {
    const rows = await until(
      async () => {
        const found = await backend.services.db.auditEvent.findMany({ where: { boxId, action: 'tunnel.close' } });
        return found.length >= count ? found : null;
      },
      'the tunnel.close audits',
      5_000,
    );
    for (const row of rows) expect({ code: JSON.parse(row.detail).code, reason: JSON.parse(row.detail).reason }).toEqual(ending);
  };

  it('a member taken off the box: their terminals (attached and detached) and tunnels end; the owner\'s stay', async () => {
    const [owner, member] = [await addUser(), await addUser()];
    const box = await addBox(owner, [member]);
    const [terminal, detached, tunnel, ownersTerminal] = [
      await openTerminal(member, box.id),
      await openDetached(member, box.id),
      await openTunnel(member, box),
      await openTerminal(owner, box.id),
    ];
    expect(backend.services.terminals.list(member.user).map((s) => s.id)).toContain(detached);

    await updateBox(backend.services.db, backend.services.secrets, backend.admin.user, { id: box.id, memberIds: [] });
    const removed = { code: closeCodes.forbidden, reason: `Your access to ${box.name} was removed.` };
    await Promise.all([expectTerminalEnded(terminal, removed), closesWithin('the tunnel', tunnel.closed).then((close) => expect(close).toEqual(removed))]);
    await until(() => backend.services.terminals.list(member.user).length === 0, 'the detached terminal to end', ENDS_WITHIN_MS);
    await expectTerminalAudits([terminal.session, detached], removed.reason);
    await expectTunnelAudit(box.id, removed);

    // The owner's terminal was rechecked on the same round and still works.
    ownersTerminal.type('echo still-$((20+22))\n');
    await ownersTerminal.untilOutput('still-42');
    ownersTerminal.send({ type: 'close' });
    await ownersTerminal.closed;
  });

  it('a box given to another owner: the former owner\'s terminal and tunnel end', async () => {
    const [former, next] = [await addUser(), await addUser()];
    const box = await addBox(former);
    const [terminal, tunnel] = [await openTerminal(former, box.id), await openTunnel(former, box)];

    await updateBox(backend.services.db, backend.services.secrets, backend.admin.user, { id: box.id, ownerId: next.user.id });
    const removed = { code: closeCodes.forbidden, reason: `Your access to ${box.name} was removed.` };
    await expectTerminalEnded(terminal, removed);
    expect(await closesWithin('the tunnel', tunnel.closed)).toEqual(removed);
    await expectTerminalAudits([terminal.session], removed.reason);
    await expectTunnelAudit(box.id, removed);
  });

  it('an admin demoted to developer: their terminal and tunnel on a box that is not theirs end', async () => {
    const [owner, lead] = [await addUser(), await addUser('admin')];
    const box = await addBox(owner);
    const [terminal, tunnel] = [await openTerminal(lead, box.id), await openTunnel(lead, box)];

    await setRole(backend.services.db, lead.user.id, 'developer');
    const removed = { code: closeCodes.forbidden, reason: `Your access to ${box.name} was removed.` };
    await expectTerminalEnded(terminal, removed);
    expect(await closesWithin('the tunnel', tunnel.closed)).toEqual(removed);
    await expectTerminalAudits([terminal.session], removed.reason);
    await expectTunnelAudit(box.id, removed);
  });

  it('a user removed from the dashboard: their terminal (session cookie) and tunnel (API token) end', async () => {
    const [owner, leaving] = [await addUser(), await addUser()];
    const box = await addBox(owner, [leaving]);
    const [terminal, detached, tunnel] = [await openTerminal(leaving, box.id), await openDetached(leaving, box.id), await openTunnel(leaving, box)];

    await deleteUser(backend.services.db, leaving.user.id, backend.admin.user.id);
    const removed = { code: closeCodes.unauthenticated, reason: 'Your account was removed from this dashboard.' };
    await expectTerminalEnded(terminal, removed);
    expect(await closesWithin('the tunnel', tunnel.closed)).toEqual(removed);
    await until(() => backend.services.terminals.list(leaving.user).length === 0, 'the detached terminal to end', ENDS_WITHIN_MS);
    await expectTerminalAudits([terminal.session, detached], removed.reason);
    await expectTunnelAudit(box.id, removed);
  });

  it('a deleted box: every terminal and tunnel on it ends, whoever holds it', async () => {
    const [owner, member] = [await addUser(), await addUser()];
    const box = await addBox(owner, [member]);
    const [ownersTerminal, membersTerminal, tunnel] = [await openTerminal(owner, box.id), await openTerminal(member, box.id), await openTunnel(member, box)];

    await deleteBox(backend.services.db, backend.admin.user, box.id);
    const deleted = { code: closeCodes.notFound, reason: `${box.name} was deleted.` };
    await Promise.all([expectTerminalEnded(ownersTerminal, deleted), expectTerminalEnded(membersTerminal, deleted)]);
    expect(await closesWithin('the tunnel', tunnel.closed)).toEqual(deleted);
    await expectTerminalAudits([ownersTerminal.session, membersTerminal.session], deleted.reason);
    await expectTunnelAudit(box.id, deleted);
  });

  it("through the dashboard's own procedures: editing a box's notes leaves its terminals open; deleting it ends them saying so", async () => {
    const owner = await addUser();
    const box = await addBox(owner);
    const terminal = await openTerminal(owner, box.id);
    const admin = appRouter.createCaller({ services: backend.services, user: backend.admin.user });

    // Not an address, user or credentials change: the pooled connection, and the shell on it, stay.
    await admin.boxes.update({ id: box.id, notes: 'rebuilt on Monday' });
    terminal.type('echo still-$((20+1))\r');
    await terminal.untilOutput('still-21', 10_000);

    // The delete ends the terminal with its own reason before the box's connection is dropped.
    await admin.boxes.delete({ id: box.id });
    await expectTerminalEnded(terminal, { code: closeCodes.notFound, reason: `${box.name} was deleted.` });
  });

  it('sessions revoked: what the session cookie opened ends; a tunnel by API token stays', async () => {
    const [owner, user] = [await addUser(), await addUser()];
    const box = await addBox(owner, [user]);
    const [terminal, cookieTunnel, tokenTunnel] = [await openTerminal(user, box.id), await openTunnel(user, box, 'cookie'), await openTunnel(user, box, 'token')];

    await backend.services.auth.api.revokeSessions({ headers: new Headers({ cookie: user.cookie }) });
    const signedOut = { code: closeCodes.unauthenticated, reason: 'You were signed out (your session ended or was revoked); sign in again.' };
    await expectTerminalEnded(terminal, signedOut);
    expect(await closesWithin('the cookie tunnel', cookieTunnel.closed)).toEqual(signedOut);
    await expectTerminalAudits([terminal.session], signedOut.reason);
    await expectTunnelAudit(box.id, signedOut);
    // Rechecked on the same rounds: the token still holds, and its stream still carries sshd's banner.
    expect(tokenTunnel.ws.readyState).toBe(tokenTunnel.ws.OPEN);
    await until(() => tokenTunnel.firstBytes.toString().startsWith('SSH-2.0-'), 'the box sshd banner', 10_000);
    tokenTunnel.ws.close();
    await tokenTunnel.closed;
  });

  it('a new password required: what the session cookie opened ends, and the session opens nothing until it is chosen', async () => {
    const [owner, user] = [await addUser(), await addUser()];
    const box = await addBox(owner, [user]);
    const [terminal, cookieTunnel] = [await openTerminal(user, box.id), await openTunnel(user, box, 'cookie')];

    await requireNewPassword(backend.services.db, user.user.id);
    const pending = { code: closeCodes.unauthenticated, reason: 'An admin asked you to choose a new password: choose it on the dashboard, then open this again.' };
    await expectTerminalEnded(terminal, pending);
    expect(await closesWithin('the cookie tunnel', cookieTunnel.closed)).toEqual(pending);

    const refused = new TestTerminal(base, box.id, { cookie: user.cookie, origin: backend.origin });
    expect(await refused.closed).toEqual({ code: closeCodes.unauthenticated, reason: 'Choose a new password first: an admin asked for one (the dashboard sends you to its password page).' });
    const api = (procedure: string) => fetch(`${base.replace('ws:', 'http:')}/api/trpc/${procedure}`, { headers: { cookie: user.cookie } });
    const list = await api('boxes.list');
    expect(list.status).toBe(403);
    expect((await list.json()).error.json.message).toBe('Choose a new password first: an admin asked for one (the dashboard sends you to its password page).');
    const me = await api('users.me');
    expect(me.status).toBe(200);
    expect((await me.json()).result.data.json.mustChangePassword).toBe(true);
  });

  it('an API token revoked: the tunnel it opened ends; the browser terminal stays', async () => {
    const [owner, user] = [await addUser(), await addUser()];
    const box = await addBox(owner, [user]);
    const { token, apiToken } = await createApiToken(backend.services.db, user.user, 'laptop');
    const tunnel = new TunnelClient(base, { box: box.name }, { authorization: `Bearer ${token}` });
    await tunnel.ready();
    const terminal = await openTerminal(user, box.id);

    await revokeApiToken(backend.services.db, user.user, apiToken.id);
    const revoked = { code: closeCodes.unauthenticated, reason: 'Your API token was revoked; make a new one on your profile page.' };
    expect(await closesWithin('the tunnel', tunnel.closed)).toEqual(revoked);
    await expectTunnelAudit(box.id, revoked);
    terminal.type('echo still-$((40+2))\n');
    await terminal.untilOutput('still-42');
    terminal.send({ type: 'close' });
    await terminal.closed;
  });
});

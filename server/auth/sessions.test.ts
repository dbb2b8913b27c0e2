// Sessions and tokens a user and an admin can end, and what ends with them: a user ends another of their browser
// sessions and the terminal it opened closes (the one they are using stays); an admin ends all of a user's sessions
// and tokens and their terminals and tunnels close; a developer taken out of the group that gave them a box loses
// the terminal on it. Real dashboard services, a lab box's sshd, the terminal and tunnel WebSockets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeCodes } from '../../lib/terminal-protocol';
import { createApiToken } from '../access-keys/api-tokens';
import { createGroup, saveGroup } from '../groups/groups';
import { appRouter } from '../trpc/router';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { startBackend, TestTerminal, type Backend, type TestUser } from '../../testing/helpers/terminals';
import { TunnelClient } from '../../testing/helpers/tunnels';
import { startLabBox, type LabBox } from '../../testing/lab/lab';

const signedOut = { code: closeCodes.unauthenticated, reason: 'You were signed out (your session ended or was revoked); sign in again.' };

describe('ending sessions and tokens', () => {
  let backend: Backend;
  let lab: LabBox;
  let base: string;
  let users = 0;
  const opened: { ws: { terminate(): void } }[] = [];

  beforeAll(async () => {
    [backend, lab] = await Promise.all([startBackend(), startLabBox({ namePrefix: 'sessions' })]);
    await lab.authorize(backend.services.dashboardPublicKey);
    base = await backend.listen();
  }, LAB_START_TIMEOUT_MS);
  afterAll(async () => {
    for (const socket of opened) socket.ws.terminate();
    await backend?.stop();
    await lab?.remove();
  });

  const caller = (user: TestUser) => appRouter.createCaller({ services: backend.services, user: user.user });
  /** Another browser of the same user: a second password sign-in, with its own user agent. */
  const secondBrowser = async (user: TestUser, userAgent: string): Promise<string> => {
    const response = await backend.services.auth.api.signInEmail({
      body: { email: user.user.email, password: 'terminal-test-password' },
      headers: new Headers({ 'user-agent': userAgent }),
      asResponse: true,
    });
    return response.headers.getSetCookie().find((line) => line.includes('session_token='))!.split(';')[0]!;
  };
  const openTerminal = async (cookie: string, boxId: string) => {
    const terminal = new TestTerminal(base, boxId, { cookie, origin: backend.origin });
    opened.push(terminal);
    await terminal.untilMessage('state', (m) => m.state === 'ready');
    return terminal;
  };

  it("a user ends another of their sessions: that browser's terminal closes, the one in use stays", async () => {
    const dev = await backend.addUser(`dev${++users}@example.com`);
    const box = await backend.addBox('sessions-own', lab, dev);
    const laptop = await secondBrowser(dev, 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0');
    const [here, there] = [await openTerminal(dev.cookie, box.id), await openTerminal(laptop, box.id)];

    const sessions = await caller(dev).profile.sessions.list();
    expect(sessions).toHaveLength(2);
    const other = sessions.find((session) => session.device === 'Firefox on Linux')!;
    await caller(dev).profile.sessions.end({ id: other.id });

    expect(await there.closed).toEqual(signedOut);
    here.type('echo here-$((40+2))\n');
    await here.untilOutput('here-42');
    expect((await caller(dev).profile.sessions.list()).map((session) => session.id)).not.toContain(other.id);
    const audit = await backend.services.db.auditEvent.findFirstOrThrow({ where: { action: 'auth.session.end', actorId: dev.user.id } });
    expect(JSON.parse(audit.detail)).toMatchObject({ device: 'Firefox on Linux' });
    // Another user's session is as unknown as an id that never was.
    const someoneElse = await backend.addUser(`dev${++users}@example.com`);
    const theirs = (await caller(someoneElse).profile.sessions.list())[0]!;
    await expect(caller(dev).profile.sessions.end({ id: theirs.id })).rejects.toThrow('That session has ended already.');
  }, 60_000);

  it("an admin ends all of a user's sessions and tokens: their terminals and tunnels close", async () => {
    const dev = await backend.addUser(`dev${++users}@example.com`);
    const box = await backend.addBox('sessions-all', lab, dev);
    const terminal = await openTerminal(dev.cookie, box.id);
    const { token } = await createApiToken(backend.services.db, dev.user, 'laptop');
    const tunnel = new TunnelClient(base, { box: box.name }, { authorization: `Bearer ${token}` });
    opened.push(tunnel);
    await tunnel.ready();

    const admin = { user: backend.admin.user, cookie: backend.admin.cookie };
    expect(await caller(admin).users.endAllSessions({ id: dev.user.id })).toEqual({ sessions: 1, tokens: 1 });
    expect(await terminal.closed).toEqual(signedOut);
    expect(await tunnel.closed).toEqual({ code: closeCodes.unauthenticated, reason: 'Your API token was revoked; make a new one on your profile page.' });
    expect(await backend.services.db.session.count({ where: { userId: dev.user.id } })).toBe(0);
    const audit = await backend.services.db.auditEvent.findFirstOrThrow({ where: { action: 'auth.sessions.end-all' } });
    expect(JSON.parse(audit.detail)).toEqual({ email: dev.user.email, sessions: 1, tokens: 1 });
  }, 60_000);

  it('a developer taken out of the group that gave them a box (by its tag) loses the terminal on it', async () => {
    const dev = await backend.addUser(`dev${++users}@example.com`);
    const box = await backend.addBox('sessions-group', lab, { user: backend.admin.user, cookie: backend.admin.cookie });
    await backend.services.db.box.update({ where: { id: box.id }, data: { tags: JSON.stringify(['payments']) } });
    const group = await createGroup(backend.services.db, backend.admin.user, 'team-payments');
    await saveGroup(backend.services.db, backend.admin.user, { id: group.id, boxIds: [], tags: ['payments'], memberIds: [dev.user.id] });
    const terminal = await openTerminal(dev.cookie, box.id);

    await caller({ user: backend.admin.user, cookie: '' }).groups.save({ id: group.id, boxIds: [], tags: ['payments'], memberIds: [] });
    expect(await terminal.closed).toEqual({ code: closeCodes.forbidden, reason: `Your access to ${box.name} was removed.` });
  }, 60_000);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../access-keys/api-tokens';
import { createBox } from '../boxes/boxes';
import { startBackend, type Backend, type TestUser } from '../../testing/helpers/terminals';
import { appRouter } from '../trpc/router';

/** connect.snippets and GET /api/cli/boxes see exactly the boxes their user may reach (no SSH involved). */
describe('connect snippets and the CLI endpoint', () => {
  let backend: Backend;
  let url: string;
  let alice: TestUser;
  let boxes: Record<'alices' | 'shared' | 'admins', string>;

  beforeAll(async () => {
    backend = await startBackend();
    url = (await backend.listen()).replace(/^ws:/, 'http:');
    alice = await backend.addUser('alice@example.com');
    const add = async (name: string, ownerId: string, memberIds: string[] = []) =>
      (await createBox(backend.services.db, backend.services.secrets, backend.admin.user, {
        name, host: `${name}.example.com`, port: 2200, sshUser: 'dev', tags: [], notes: '', ownerId, memberIds, auth: { method: 'dashboard-key' },
      })).id;
    boxes = {
      alices: await add('alices', alice.user.id),
      shared: await add('shared', backend.admin.user.id, [alice.user.id]),
      admins: await add('admins', backend.admin.user.id),
    };
  });

  afterAll(async () => {
    await backend?.stop();
  });

  const boxesWith = (token: string, init: RequestInit = {}) =>
    fetch(`${url}/api/cli/boxes`, { ...init, headers: { authorization: `Bearer ${token}` } });

  it('connect.snippets for a box the user may reach; another box looks unknown', async () => {
    const caller = appRouter.createCaller({ services: backend.services, user: alice.user });
    const shared = await caller.connect.snippets({ boxId: boxes.shared });
    expect(shared.alias).toBe('shared');
    expect(shared.snippets.sshConfig).toContain('Host shared\n  HostName shared.example.com\n  Port 2200\n  User dev\n');
    expect(shared.cliCommand).toBe(`boxyard connect --url ${backend.services.env.publicUrl} --token <token>`);
    await expect(caller.connect.snippets({ boxId: boxes.admins })).rejects.toThrow('No such box, or you do not have access to it.');
  });

  it('GET /api/cli/boxes lists what the token\'s user may reach with their pinned host keys, and refreshes lastUsedAt', async () => {
    const { token, apiToken } = await createApiToken(backend.services.db, alice.user, 'laptop');
    const sharedKey = { algorithm: 'ssh-ed25519', blob: 'AAAAC3NzaC1lZDI1NTE5AAAAIE1vY2tLZXlGb3JUaGVDbGlFbmRwb2ludFRlc3Q=' };
    await backend.services.db.box.update({
      where: { id: boxes.shared },
      data: { hostKeyFingerprint: 'SHA256:shared', hostKeyAlgorithm: sharedKey.algorithm, hostKeyBlob: sharedKey.blob },
    });
    const response = await boxesWith(token);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toEqual({
      user: { email: 'alice@example.com' },
      boxes: [
        { name: 'alices', host: 'alices.example.com', port: 2200, user: 'dev', hostKey: null },
        { name: 'shared', host: 'shared.example.com', port: 2200, user: 'dev', hostKey: sharedKey },
      ],
    });
    expect((await backend.services.db.apiToken.findUniqueOrThrow({ where: { id: apiToken.id } })).lastUsedAt).toBeInstanceOf(Date);

    const admin = await createApiToken(backend.services.db, backend.admin.user, 'admin laptop');
    const all = (await (await boxesWith(admin.token)).json()) as { boxes: { name: string }[] };
    expect(all.boxes.map((box) => box.name)).toEqual(['admins', 'alices', 'shared']);
  });

  it('answers JSON errors: no token, wrong path, wrong method', async () => {
    const response = await fetch(`${url}/api/cli/boxes`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    expect(await response.json()).toEqual({ error: 'Send an API token as "Authorization: Bearer byd_..."; make one on your profile page.' });
    const missing = await fetch(`${url}/api/cli/nothing`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'No such CLI endpoint; the CLI uses GET /api/cli/boxes.' });
    const post = await boxesWith('byd_x', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
  });
});

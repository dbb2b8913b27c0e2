// Lengths and ranges at every entry point, over real HTTP on the real services: better-auth's own routes hold user
// fields to the caps users.create has, numbers out of range are a 400 in plain words (never a 500), and a tRPC
// request's batch and body are capped (a signed-out one to a few calls).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BATCH_CALLS, MAX_SIGNED_OUT_BATCH_CALLS, MAX_TRPC_BODY_BYTES } from '../../lib/trpc-path';
import { MAX_AUTH_BODY_BYTES } from './body-limit';
import { createBox } from '../boxes/boxes';
import { startBackend, type Backend, type TestUser } from '../../testing/helpers/terminals';

describe('input limits at the edge', () => {
  let backend: Backend;
  let url: string;
  let developer: TestUser;
  let boxId: string;

  beforeAll(async () => {
    backend = await startBackend();
    url = (await backend.listen()).replace(/^ws:/, 'http:');
    developer = await backend.addUser('dev@example.com');
    const box = await createBox(backend.services.db, backend.services.secrets, backend.admin.user, {
      name: 'limits-box',
      host: '127.0.0.1',
      port: 22,
      sshUser: 'dev',
      tags: [],
      notes: '',
      ownerId: developer.user.id,
      memberIds: [],
      auth: { method: 'dashboard-key' },
    });
    boxId = box.id;
  });
  afterAll(() => backend?.stop());

  const updateUser = (body: unknown) =>
    fetch(`${url}/api/auth/update-user`, {
      method: 'POST',
      headers: { cookie: developer.cookie, origin: backend.origin, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const storedName = async () => (await backend.services.db.user.findUniqueOrThrow({ where: { id: developer.user.id } })).name;

  it("better-auth's update-user takes the caps users.create has, and says which field is wrong", async () => {
    const before = await storedName();
    for (const body of [{ name: 'x'.repeat(10_000) }, { name: 'x'.repeat(101) }, { name: '   ' }, { image: `https://example.com/${'a'.repeat(3000)}` }]) {
      const response = await updateUser(body);
      expect({ body: Object.keys(body), status: response.status }).toEqual({ body: Object.keys(body), status: 400 });
      expect((await response.json()).message).toMatch(/^(name|image): /);
      expect(await storedName()).toBe(before);
    }
    const fine = await updateUser({ name: `  ${'n'.repeat(100)}  ` });
    expect(fine.status).toBe(200);
    expect(await storedName()).toBe('n'.repeat(100));
  });

  it("better-auth's routes refuse a body over 64 KiB, or one of unknown size, before reading it", async () => {
    const signIn = (body: BodyInit, headers: Record<string, string> = {}) =>
      fetch(`${url}/api/auth/sign-in/email`, {
        method: 'POST',
        headers: { origin: backend.origin, 'content-type': 'application/json', ...headers },
        body,
        duplex: 'half',
      } as RequestInit);
    const huge = await signIn(JSON.stringify({ email: 'dev@example.com', password: 'p'.repeat(MAX_AUTH_BODY_BYTES) }));
    expect(huge.status).toBe(413);
    expect(await huge.json()).toEqual({ message: 'A request here is at most 64 KiB; send less.' });
    const streamed = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(JSON.stringify({ email: 'dev@example.com', password: 'wrong-password' })));
        controller.close();
      },
    });
    expect((await signIn(streamed)).status).toBe(411);
    // A sign-in of ordinary size still reaches better-auth (a wrong password: 401).
    expect((await signIn(JSON.stringify({ email: 'dev@example.com', password: 'wrong-password' }))).status).toBe(401);
  });

  /** One tRPC query over GET, its input in superjson's wire form. */
  const query = (path: string, input: { json: unknown; meta?: unknown }, headers: Record<string, string> = { cookie: developer.cookie }) =>
    fetch(`${url}/api/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`, { headers });

  it('a time out of range is a 400 that says what to fix, never a 500', async () => {
    const now = Date.now();
    expect((await query('metrics.series', { json: { boxId, from: now - 60_000, to: now } })).status).toBe(200);
    const infinite = { values: { from: ['number'] } };
    for (const input of [
      { json: { boxId, from: -1e300, to: 1e300 } },
      { json: { boxId, from: 0, to: 1e300 } },
      { json: { boxId, from: -1, to: now } },
      { json: { boxId, from: 0.5, to: now } },
      { json: { boxId, from: '-Infinity', to: now }, meta: infinite },
      { json: { boxId, from: 'NaN', to: now }, meta: infinite },
    ]) {
      const response = await query('metrics.series', input);
      const body = await response.json();
      expect({ input, status: response.status }).toEqual({ input, status: 400 });
      expect(body.error.json.message).toMatch(/^(from|to): A time /);
    }
  });

  /** A batch of `calls` tRPC queries in one GET, as httpBatchLink sends it. */
  const batch = (calls: number, headers: Record<string, string> = {}) => {
    const paths = Array.from({ length: calls }, () => 'settings.publicOrigin').join(',');
    const inputs = Object.fromEntries(Array.from({ length: calls }, (_, i) => [i, { json: null }]));
    return fetch(`${url}/api/trpc/${paths}?batch=1&input=${encodeURIComponent(JSON.stringify(inputs))}`, { headers });
  };

  it('serves a small signed-out batch, refuses a larger one (audited), and caps every batch', async () => {
    const small = await batch(MAX_SIGNED_OUT_BATCH_CALLS);
    expect(small.status).toBe(200);
    expect(await small.json()).toHaveLength(MAX_SIGNED_OUT_BATCH_CALLS);

    for (const calls of [MAX_SIGNED_OUT_BATCH_CALLS + 1, MAX_BATCH_CALLS]) {
      const refused = await batch(calls);
      expect({ calls, status: refused.status }).toEqual({ calls, status: 401 });
      const answers = (await refused.json()) as { error: { json: { message: string; data: { appCode: string } } } }[];
      expect(answers[0]!.error.json.message).toBe(`Sign in first: a request without a session holds at most ${MAX_SIGNED_OUT_BATCH_CALLS} calls.`);
      expect(answers[0]!.error.json.data.appCode).toBe('UNAUTHENTICATED');
    }
    const audited = await backend.services.db.auditEvent.findMany({ where: { action: 'api.batch.refused' } });
    expect(audited.map((event) => JSON.parse(event.detail).calls).sort((a, b) => a - b)).toEqual([MAX_SIGNED_OUT_BATCH_CALLS + 1, MAX_BATCH_CALLS]);

    // Beyond the cap of every batch, signed in or not, the request is refused before anyone is looked up.
    expect((await batch(MAX_BATCH_CALLS, { cookie: developer.cookie })).status).toBe(200);
    for (const headers of [{ cookie: developer.cookie }, {}] as Record<string, string>[]) {
      const tooMany = await batch(100, headers);
      expect(tooMany.status).toBe(400);
      expect(((await tooMany.json()) as { error: { json: { message: string } } }[])[0]!.error.json.message).toBe(
        `One request holds at most ${MAX_BATCH_CALLS} calls; send the others in another request.`,
      );
    }
  });

  it('refuses a request body over the cap in plain words', async () => {
    const response = await fetch(`${url}/api/trpc/mounts.importYaml`, {
      method: 'POST',
      headers: { cookie: developer.cookie, origin: backend.origin, 'content-type': 'application/json' },
      body: JSON.stringify({ json: { boxId, yaml: 'x'.repeat(MAX_TRPC_BODY_BYTES) } }),
    });
    expect(response.status).toBe(413);
    expect((await response.json()).error.json.message).toBe('A request is at most 2 MiB; send less at once.');
  });
});

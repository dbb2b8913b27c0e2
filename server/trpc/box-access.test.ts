// A developer who asks any box procedure about a box they may not reach learns nothing: the answer is the same
// NOT_FOUND as for an id that does not exist (so ids cannot be probed). No SSH: every refusal comes before it.
import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionUser } from '../boxes/access';
import { createBox } from '../boxes/boxes';
import { SecretBox } from '../crypto/secret-box';
import { createDb, type Db } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { testDatabases } from '../../testing/helpers/databases';
import { createPrometheusRegistry, Timings } from '../metrics/prometheus';
import type { Services } from '../services';
import { createUser } from '../users/users';
import { appRouter } from './router';

describe('box procedures on a box the caller may not reach', () => {
  const newDatabase = testDatabases('sqlite', 'box_access');
  let db: Db;
  let developer: SessionUser;
  let othersBox: string;
  let ownBox: string;
  const unknownBox = 'no-such-box';
  // Every refusal below happens at the box lookup, which reads only the database.
  const caller = () => appRouter.createCaller({ services: { db, env: { publicUrl: 'https://boxyard.example.com' }, timings: new Timings(createPrometheusRegistry()) } as Services, user: developer });

  beforeAll(async () => {
    const url = await newDatabase();
    await applyMigrations(url);
    db = createDb(url);
    const person = async (email: string, role: 'admin' | 'developer'): Promise<SessionUser> => {
      const user = await createUser(db, { email, name: email, password: 'a-long-password', role });
      return { id: user.id, email: user.email, name: user.name, role };
    };
    const lead = await person('lead@example.com', 'admin');
    developer = await person('dev@example.com', 'developer');
    const secrets = new SecretBox(Buffer.alloc(32, 7));
    const add = async (name: string, owner: SessionUser) =>
      (await createBox(db, secrets, lead, { name, host: '127.0.0.1', port: 22, sshUser: 'dev', tags: [], notes: '', ownerId: owner.id, memberIds: [], auth: { method: 'dashboard-key' } })).id;
    othersBox = await add('leads-box', lead);
    ownBox = await add('devs-box', developer);
  });

  afterAll(async () => {
    await db.$disconnect();
  });

  /** Each procedure that names one box, called with that box's id. */
  const procedures: Record<string, (boxId: string) => Promise<unknown>> = {
    'boxes.get': (id) => caller().boxes.get({ id }),
    'boxes.refresh': (id) => caller().boxes.refresh({ id }),
    'boxes.containers': (id) => caller().boxes.containers({ id }),
    'connect.snippets': (boxId) => caller().connect.snippets({ boxId }),
    'metrics.series': (boxId) => caller().metrics.series({ boxId, from: 0, to: 60_000 }),
    'metrics.status': (boxId) => caller().metrics.status({ boxId }),
    'metrics.watch': (boxId) => caller().metrics.watch({ boxId }),
    'mounts.get': (boxId) => caller().mounts.get({ boxId }),
    'mounts.exportYaml': (boxId) => caller().mounts.exportYaml({ boxId }),
    'vms.ofBox': (boxId) => caller().vms.ofBox({ boxId }),
    'vms.boxAction': (boxId) => caller().vms.boxAction({ boxId, action: 'start' }),
    'vms.power': (boxId) => caller().vms.power({ boxId, action: 'reboot', confirmName: 'leads-box' }),
  };

  async function refusal(call: Promise<unknown>): Promise<{ code: string; message: string }> {
    const error = await call.then(
      () => null,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(TRPCError);
    const { code, message } = error as TRPCError;
    return { code, message };
  }

  it.each(Object.keys(procedures))('%s: NOT_FOUND, exactly as for an unknown id', async (name) => {
    const call = procedures[name]!;
    const forUnknown = await refusal(call(unknownBox));
    expect(forUnknown).toEqual({ code: 'NOT_FOUND', message: 'No such box, or you do not have access to it.' });
    expect(await refusal(call(othersBox))).toEqual(forUnknown);
  });

  it('the same procedures find the box the developer owns', async () => {
    expect(await caller().boxes.get({ id: ownBox })).toMatchObject({ id: ownBox, name: 'devs-box' });
    expect(await caller().connect.snippets({ boxId: ownBox })).toMatchObject({ alias: 'devs-box' });
    expect(await caller().vms.ofBox({ boxId: ownBox })).toBeNull();
  });
});

// The group tables on both databases: a provider's groups claim sets a user's provider groups and role, an admin's
// groups keep theirs, reachableBoxes gives a developer the boxes of their groups, by box and by whole tag, and
// peopleOfBox names them on those boxes.
import { describe, expect, it } from 'vitest';
import { providers, testDatabases } from '../../testing/helpers/databases';
import { peopleOfBox, reachableBoxes, sessionUserOf } from '../boxes/access';
import { createDb } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { createGroup, deleteGroup, listGroups, saveGroup, syncProviderGroups } from './groups';

describe.each(providers)('groups on %s', (provider) => {
  const freshDatabase = testDatabases(provider, 'groups');

  it('follow the provider, keep an admin\'s own, and give their boxes and tags', async () => {
    const url = await freshDatabase();
    await applyMigrations(url);
    const db = createDb(url);
    try {
      const admin = { id: 'admin', email: 'admin@example.com', name: 'Admin', role: 'admin' };
      const dev = { id: 'dev', email: 'dev@example.com', name: 'Dev', role: 'developer' };
      await db.user.createMany({ data: [admin, dev] });
      const box = (name: string, tags: string[]) => db.box.create({ data: { name, host: '127.0.0.1', sshUser: 'dev', tags: JSON.stringify(tags), ownerId: admin.id } });
      const [named, tagged] = [await box('named', []), await box('tagged', ['payments'])];
      await box('prefix', ['payments-old']);
      await box('other', ['search']);
      const reachable = async () => (await db.box.findMany({ where: await reachableBoxes(db, sessionUserOf(await db.user.findUniqueOrThrow({ where: { id: dev.id } }))), orderBy: { name: 'asc' } })).map((b) => b.name);

      expect(await syncProviderGroups(db, dev, { groups: ['team-payments', 'leads'], adminGroup: 'leads' })).toEqual({ joined: ['team-payments', 'leads'], left: [], role: 'admin' });
      expect((await db.user.findUniqueOrThrow({ where: { id: dev.id } })).role).toBe('admin');
      expect(await syncProviderGroups(db, { ...dev, role: 'admin' }, { groups: ['team-payments'], adminGroup: 'leads' })).toEqual({ joined: [], left: ['leads'], role: 'developer' });

      const payments = (await listGroups(db)).find((group) => group.name === 'team-payments')!;
      await saveGroup(db, admin, { id: payments.id, boxIds: [named.id], tags: ['payments'], memberIds: ['ignored-for-a-provider-group'] });
      expect(await reachable()).toEqual(['named', 'tagged']);

      // An admin's group with the provider's name of another group: the provider does not put anyone in it.
      const manual = await createGroup(db, admin, 'on-call');
      await saveGroup(db, admin, { id: manual.id, boxIds: [tagged.id], tags: ['search'], memberIds: [dev.id] });
      expect(await syncProviderGroups(db, dev, { groups: ['on-call'], adminGroup: null })).toEqual({ joined: [], left: ['team-payments'], role: 'developer' });
      expect(await reachable()).toEqual(['other', 'tagged']);
      expect((await listGroups(db)).map((group) => [group.name, group.source, group.members.map((m) => m.id)])).toEqual([
        ['leads', 'provider', []],
        ['on-call', 'manual', [dev.id]],
        ['team-payments', 'provider', []],
      ]);
      await expect(createGroup(db, admin, 'on-call')).rejects.toThrow('A group named on-call exists already.');
      // The same rule the other way round: whose keys go on a box (its owner, and dev through on-call's box and tag).
      expect(await peopleOfBox(db, tagged.id)).toEqual([admin.id, dev.id]);
      expect(await peopleOfBox(db, named.id)).toEqual([admin.id]);

      await deleteGroup(db, admin, manual.id);
      expect(await reachable()).toEqual([]);
      expect(await db.groupTag.count()).toBe(1);
      expect((await db.auditEvent.findMany({ orderBy: { at: 'asc' } })).map((event) => event.action)).toEqual([
        'user.groups.provider',
        'user.role.provider',
        'user.groups.provider',
        'user.role.provider',
        'group.save',
        'group.create',
        'group.save',
        'user.groups.provider',
        'group.delete',
      ]);
    } finally {
      await db.$disconnect();
    }
  }, 60_000);
});

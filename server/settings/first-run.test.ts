// The first-run checklist's state from real records (firstRunState), on SQLite and PostgreSQL, and its authorize line
// read back by a real shell.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliTokenName } from '../../lib/cli-login';
import { createApiToken, revokeApiToken } from '../access-keys/api-tokens';
import { createUser } from '../users/users';
import { providers, testDatabases } from '../../testing/helpers/databases';
import { seededMetricsDatabase } from '../../testing/helpers/metrics';
import { authorizeKeyCommand, firstRunState } from './first-run';

describe.each(providers)('firstRunState (%s)', (provider) => {
  const newDatabase = testDatabases(provider, 'first-run');

  it('ticks each step from the record it leaves: a box, a developer, a succeeded Docker job, a CLI sign-in of the caller', async () => {
    const { db, admin, addBox } = await seededMetricsDatabase(newDatabase);
    try {
      expect(await firstRunState(db, admin)).toEqual({ done: { machine: false, developers: false, docker: false, cli: false }, firstBoxId: null });

      const boxId = await addBox('web-1');
      await addBox('web-2');
      await createUser(db, { email: 'dev@example.com', name: 'dev', password: 'a-long-password', role: 'developer' });
      // A job that failed, or a token made by hand on the profile page, ticks nothing.
      await db.job.create({ data: { kind: 'docker', boxId, status: 'failed' } });
      const handMade = await createApiToken(db, admin, 'work laptop');
      expect(await firstRunState(db, admin)).toEqual({ done: { machine: true, developers: true, docker: false, cli: false }, firstBoxId: boxId });

      await db.job.create({ data: { kind: 'docker', boxId, status: 'succeeded' } });
      const cli = await createApiToken(db, admin, cliTokenName('laptop-1'));
      expect((await firstRunState(db, admin)).done).toEqual({ machine: true, developers: true, docker: true, cli: true });

      await revokeApiToken(db, admin, cli.apiToken.id);
      await revokeApiToken(db, admin, handMade.apiToken.id);
      expect((await firstRunState(db, admin)).done.cli).toBe(false);
    } finally {
      await db.$disconnect();
    }
  });
});

describe('authorizeKeyCommand', () => {
  const home = mkdtempSync(join(tmpdir(), 'boxyard-first-run-home-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));

  it('adds the key to ~/.ssh/authorized_keys once, creating the folder, with the modes sshd accepts', () => {
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOc boxyard-dashboard';
    execFileSync('sh', ['-c', authorizeKeyCommand(key)], { env: { ...process.env, HOME: home } });
    execFileSync('sh', ['-c', authorizeKeyCommand(key)], { env: { ...process.env, HOME: home } });
    expect(readFileSync(join(home, '.ssh/authorized_keys'), 'utf8')).toBe(`${key}\n`);
    expect(execFileSync('stat', ['-c', '%a', join(home, '.ssh'), join(home, '.ssh/authorized_keys')], { encoding: 'utf8' }).trim().split('\n')).toEqual(['700', '600']);
  });
});

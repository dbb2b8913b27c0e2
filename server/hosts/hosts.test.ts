import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import { SecretBox } from '../crypto/secret-box';
import { createDb, type Db } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { providers, sql, testDatabases } from '../../testing/helpers/databases';
import { isAppError } from '../errors';
import { SshPool } from '../ssh/pool';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { createHost, deleteHost, getHost, getHostRow, hostCredentials, listHosts } from './hosts';
import { createHostInput } from '../../lib/validation';
import { HostRemote } from './remote';
import { ensureDashboardKey } from '../settings/dashboard-key';

const secrets = new SecretBox(Buffer.alloc(32, 5));
const actor = { id: null, email: 'lead@example.com' };

async function rejection(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

let box: LabBox;
beforeAll(async () => {
  box = await startLabBox({ namePrefix: 'hosts' });
}, LAB_START_TIMEOUT_MS);
afterAll(async () => {
  await box?.remove();
});

describe('host input', () => {
  it('validates names like box names and knows the hypervisor kinds', () => {
    const base = { host: '127.0.0.1', sshUser: 'dev', auth: { method: 'dashboard-key' } };
    expect(createHostInput.safeParse({ ...base, name: 'mac-mini-1', kind: 'parallels' }).success).toBe(true);
    expect(createHostInput.safeParse({ ...base, name: 'Mac Mini', kind: 'parallels' }).success).toBe(false);
    expect(createHostInput.safeParse({ ...base, name: 'mac', kind: 'vmware' }).success).toBe(false);
  });
});

describe.each(providers)('hosts on %s', (provider) => {
  const newDatabase = testDatabases(provider, 'hosts');
  let db: Db;
  let url: string;
  let pool: SshPool;
  let remote: HostRemote;

  beforeAll(async () => {
    url = await newDatabase();
    await applyMigrations(url);
    db = createDb(url);
    pool = new SshPool();
    pool.start();
    remote = new HostRemote({ db, pool, secrets, dashboardPrivateKey: (await ensureDashboardKey(db, secrets)).privateKey });
  });
  afterAll(async () => {
    await pool?.stop();
    await db?.$disconnect();
  });

  const labHost = (name: string, kind: 'parallels' | 'libvirt') =>
    createHost(db, secrets, { name, kind, host: box.host, port: box.port, sshUser: 'dev', auth: { method: 'private-key', privateKey: box.privateKey } });

  it('stores the credentials encrypted and bound to the host, never in the view; refuses a taken name', async () => {
    const host = await labHost('stored', 'parallels');
    expect(JSON.stringify(host)).not.toContain('PRIVATE KEY');
    const [row] = await sql(url, provider === 'sqlite' ? 'SELECT "secretCipher" FROM host WHERE id = ?' : 'SELECT "secretCipher" FROM host WHERE id = $1', [host.id]);
    expect(String(row!.secretCipher)).toMatch(/^v1:/);
    expect(hostCredentials(await getHostRow(db, host.id), secrets)).toMatchObject({ method: 'private-key', privateKey: box.privateKey });

    const clash = await rejection(labHost('stored', 'libvirt'));
    expect(isAppError(clash, 'CONFLICT')).toBe(true);
    expect((clash as Error).message).toBe('The name "stored" is already taken; choose another.');

    await deleteHost(db, host.id);
    expect(isAppError(await rejection(getHost(db, host.id)), 'NOT_FOUND')).toBe(true);
  });

  it.each([
    ['parallels', 'prlctl not found on host NAME: is Parallels Desktop installed?'],
    ['libvirt', 'virsh not found on host NAME: install libvirt-clients'],
  ] as const)('a real lab box as a %s host: saved, VMs give the plain "not found" message, host key pinned', async (kind, message) => {
    const name = `lab-${kind}`;
    const expected = message.replace('NAME', name);
    const host = await labHost(name, kind);
    expect((await listHosts(db)).map((h) => h.name)).toContain(name);

    // Version detection fails the same plain way, and the host stays saved with the reason.
    const detect = await rejection(remote.detectVersion(host.id, actor));
    expect(isAppError(detect, 'REMOTE_COMMAND_FAILED')).toBe(true);
    expect((detect as Error).message).toBe(expected);

    const error = await rejection(remote.listVms(host.id, actor));
    expect(isAppError(error, 'REMOTE_COMMAND_FAILED')).toBe(true);
    expect((error as Error).message).toBe(expected);

    const view = await getHost(db, host.id);
    expect(view.lastError).toBe(expected);
    expect(view.hypervisorVersion).toBeNull();
    expect(view.hostKey?.fingerprint).toBe(await box.hostKeyFingerprint('ed25519'));
    // The full key is pinned too (as on boxes), and stays out of the view.
    const { blob } = await box.hostPublicKey('ed25519');
    expect((await db.host.findUniqueOrThrow({ where: { id: host.id } })).hostKeyBlob).toBe(blob);
    expect(JSON.stringify(view)).not.toContain(blob);

    const audit = await db.auditEvent.findMany({ where: { action: { startsWith: 'ssh.exec.host.' } } });
    const mine = audit.filter((e) => (JSON.parse(e.detail) as { hostId?: string }).hostId === host.id);
    expect(mine.map((e) => e.action)).toEqual(expect.arrayContaining(['ssh.exec.host.version', 'ssh.exec.host.vms']));
    expect(mine.every((e) => e.actorEmail === actor.email)).toBe(true);
  });
});

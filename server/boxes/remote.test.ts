import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import { loadEnv } from '../env';
import { isAppError } from '../errors';
import { startServices, stopServices, type Services } from '../services';
import { sh } from '../ssh/quote';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import type { SessionUser } from './access';
import { createBox, deleteBox, getBox } from './boxes';
import { repinHostKey } from './hostkey-pin';

/** BoxRemote against a real lab box, with the whole backend started in-process on a temporary SQLite file. */
describe('BoxRemote on a lab box', () => {
  let services: Services;
  let box: LabBox;
  let admin: SessionUser;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-remote-'));

  beforeAll(async () => {
    box = await startLabBox({ namePrefix: 'remote' });
    ({ services } = await startServices(loadEnv({ BOXYARD_DATA_DIR: dataDir, BOXYARD_ADMIN_PASSWORD: 'remote-test-password' }), { pollStatus: false }));
    await box.authorize(services.dashboardPublicKey);
    const user = await services.db.user.findFirstOrThrow({ where: { role: 'admin' } });
    admin = { id: user.id, email: user.email, name: user.name, role: 'admin' };
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    await stopServices(services);
    await box.remove();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const addBox = (name: string, auth: Parameters<typeof createBox>[3]['auth'] = { method: 'dashboard-key' }) =>
    createBox(services.db, services.secrets, admin, { name, host: box.host, port: box.port, sshUser: 'dev', tags: [], notes: '', memberIds: [], auth });

  it('gathers facts with the dashboard key, pins the host key and audits the command', async () => {
    const added = await addBox('facts');
    const facts = await services.remote.refreshFacts(added.id, admin);
    expect(facts.os.id).toBe('debian');
    const view = await getBox(services.db, admin, added.id);
    expect(view.status).toBe('online');
    expect(view.hostKey?.fingerprint).toBe(await box.hostKeyFingerprint('ed25519'));

    const audit = await services.db.auditEvent.findMany({ where: { boxId: added.id }, orderBy: { at: 'asc' } });
    expect(audit.map((e) => e.action)).toEqual(expect.arrayContaining(['box.hostkey.pin', 'ssh.exec.facts']));
    const exec = audit.find((e) => e.action === 'ssh.exec.facts')!;
    expect(exec.actorEmail).toBe(admin.email);
    expect(JSON.parse(exec.detail)).toMatchObject({ exitCode: 0, command: expect.stringContaining('/etc/os-release') });
  });

  it('logs in with a stored password, and a wrong one marks the box auth-failed in plain words', async () => {
    const good = await addBox('with-password', { method: 'password', password: box.password });
    expect((await services.remote.refreshFacts(good.id, admin)).os.id).toBe('debian');

    const bad = await addBox('wrong-password', { method: 'password', password: 'not-the-password' });
    const error = await services.remote.refreshFacts(bad.id, admin).catch((e: unknown) => e);
    expect(isAppError(error, 'SSH_AUTH_FAILED')).toBe(true);
    const view = await getBox(services.db, admin, bad.id);
    expect(view.status).toBe('auth-failed');
    expect(view.statusMessage).toContain('permission denied for user dev');
  });

  it('a box deleted while a command runs on it ends that command with a plain error and leaves no row behind', async () => {
    const doomed = await addBox('doomed');
    const running = services.remote.exec(doomed.id, sh`sleep 20`, { actor: admin, purpose: 'test', timeoutMs: 30_000 }).catch((e: unknown) => e);
    // Wait until the command is really running on the box before deleting.
    await expect.poll(async () => (await box.root('pgrep -x sleep')).stdout.trim() !== '', { timeout: 10_000 }).toBe(true);
    await deleteBox(services.db, admin, doomed.id);
    await services.pool.evict(doomed.id);
    const error = await running;
    expect(isAppError(error, 'SSH_DISCONNECTED')).toBe(true);
    expect(await services.db.box.findUnique({ where: { id: doomed.id } })).toBeNull();
    const audit = await services.db.auditEvent.findFirst({ where: { boxId: doomed.id, action: 'ssh.exec.test' } });
    expect(audit?.result).toBe('error');
  });

  it('pins the full host key; an older fingerprint-only pin gets it from the next connection with that key, never from another key', async () => {
    const { algorithm, blob } = await box.hostPublicKey('ed25519');
    const fingerprint = await box.hostKeyFingerprint('ed25519');
    const row = (id: string) => services.db.box.findUniqueOrThrow({ where: { id } });

    const pinned = await addBox('full-key');
    expect(await services.remote.probe(pinned.id)).toBe('online');
    expect(await row(pinned.id)).toMatchObject({ hostKeyFingerprint: fingerprint, hostKeyAlgorithm: algorithm, hostKeyBlob: blob });
    expect(JSON.stringify(await getBox(services.db, admin, pinned.id))).not.toContain(blob);

    // A box pinned before full keys were stored: the fingerprint only.
    await services.db.box.update({ where: { id: pinned.id }, data: { hostKeyBlob: null } });
    await services.pool.evict(pinned.id);
    expect(await services.remote.probe(pinned.id)).toBe('online');
    expect((await row(pinned.id)).hostKeyBlob).toBe(blob);

    // An older pin of another key (the box's RSA key): the Ed25519 key offered now is refused, kept as the offer only.
    const rsaFingerprint = await box.hostKeyFingerprint('rsa');
    const other = await addBox('other-key');
    await services.db.box.update({ where: { id: other.id }, data: { hostKeyFingerprint: rsaFingerprint, hostKeyAlgorithm: 'ssh-ed25519' } });
    expect(await services.remote.probe(other.id)).toBe('host-key-mismatch');
    expect(await row(other.id)).toMatchObject({ hostKeyFingerprint: rsaFingerprint, hostKeyBlob: null, offeredHostKeyFingerprint: fingerprint, offeredHostKeyBlob: blob });

    // The admin trusts the offered key: it is the pin in full now, and the box connects with it.
    await repinHostKey(services.db, admin, other.id, fingerprint);
    expect(await row(other.id)).toMatchObject({
      hostKeyFingerprint: fingerprint,
      hostKeyAlgorithm: algorithm,
      hostKeyBlob: blob,
      offeredHostKeyFingerprint: null,
      offeredHostKeyBlob: null,
    });
    expect(await services.remote.probe(other.id)).toBe('online');
  });

  it('probes without running a command and notices a stopped sshd', async () => {
    const probed = await addBox('probed');
    expect(await services.remote.probe(probed.id)).toBe('online');
    await box.stopSshd();
    try {
      await services.pool.evict(probed.id);
      expect(await services.remote.probe(probed.id)).toBe('unreachable');
      expect((await getBox(services.db, admin, probed.id)).statusMessage).toContain(`127.0.0.1:${box.port}`);
    } finally {
      await box.startSshd();
    }
  });
});

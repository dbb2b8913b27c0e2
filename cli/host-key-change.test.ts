import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../server/access-keys/api-tokens';
import { repinHostKey } from '../server/boxes/hostkey-pin';
import { CLI_SOURCE as CLI, runProcess, TSX } from '../testing/helpers/process';
import { LAB_START_TIMEOUT_MS } from '../testing/helpers/ssh';
import { startBackend, type Backend, type TestUser } from '../testing/helpers/terminals';
import { until } from '../testing/helpers/wait';
import { startLabBox, type LabBox } from '../testing/lab/lab';

/**
 * Known hosts from the pin, with the real OpenSSH ssh: `boxyard connect` writes the keys the dashboard pinned into
 * its own known_hosts, and the entries check them strictly, through the tunnel and directly. When the box's host
 * keys are regenerated the laptop refuses, and after an admin re-pins (the domain function behind the UI's "Trust
 * the new key") the next `boxyard connect` is all it takes to connect again.
 */

const run = (file: string, args: string[], env: NodeJS.ProcessEnv) => runProcess(file, args, { env, timeoutMs: 120_000 });

describe('a box whose host key is regenerated, seen from the laptop', () => {
  let backend: Backend;
  let lab: LabBox;
  let alice: TestUser;
  let url: string;
  let token: string;
  let boxId: string;
  const home = mkdtempSync(path.join(tmpdir(), 'boxyard-rekey-home-'));
  const tunnelConfig = path.join(home, '.ssh', 'config');
  const directConfig = path.join(home, '.ssh', 'direct-config');
  const knownHosts = path.join(home, '.config', 'boxyard', 'known_hosts');
  const labKey = path.join(home, 'lab_ed25519');
  const env = { PATH: process.env.PATH, HOME: home, NODE_ENV: 'test' } as NodeJS.ProcessEnv;

  const connect = (...args: string[]) =>
    run(TSX, [CLI, 'connect', '--url', url, '--token', token, '--identity-file', labKey, '--no-docker-contexts', ...args], env);
  /** Both kinds of entry, as a laptop would write them. */
  const connectBoth = async () => {
    const tunnel = await connect();
    const direct = await connect('--direct', '--ssh-config', directConfig);
    for (const ran of [tunnel, direct]) {
      expect(ran.stderr).toBe('');
      expect(ran.code).toBe(0);
    }
    return tunnel;
  };
  // Nothing about host keys on the command line: what the entries say (UserKnownHostsFile, StrictHostKeyChecking
  // yes, HostKeyAlias) is what is checked. No control master: every ssh makes its own key exchange.
  const ssh = (config: string, name: string) =>
    run('ssh', ['-F', config, '-o', 'BatchMode=yes', '-o', 'ControlMaster=no', '-o', 'ControlPath=none', name, 'true'], env);
  const boxPublicKey = async () => {
    const { algorithm, blob } = await lab.hostPublicKey('ed25519');
    return `${algorithm} ${blob}`;
  };

  beforeAll(async () => {
    [backend, lab] = await Promise.all([startBackend(), startLabBox({ namePrefix: 'rekey' })]);
    url = (await backend.listen()).replace(/^ws:/, 'http:');
    await lab.authorize(backend.services.dashboardPublicKey);
    alice = await backend.addUser('alice@example.com');
    boxId = (await backend.addBox('rekeyed', lab, alice)).id;
    await backend.addBox('fresh', lab, alice);
    ({ token } = await createApiToken(backend.services.db, alice.user, 'rekey test'));
    writeFileSync(labKey, lab.privateKey, { mode: 0o600 });
    // The dashboard's first connection pins the key; `fresh` it has never reached.
    expect(await backend.services.remote.probe(boxId)).toBe('online');
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    await backend?.stop();
    await lab?.remove();
    rmSync(home, { recursive: true, force: true });
  });

  it('connect writes the pinned key, and ssh with StrictHostKeyChecking yes connects through the tunnel and directly', async () => {
    const ran = await connectBoth();
    expect(ran.stdout).toContain('No host key is pinned yet for fresh (the dashboard has not connected to it), so ssh refuses its entry');
    const lines = readFileSync(knownHosts, 'utf8').split('\n').filter((line) => line && !line.startsWith('#'));
    expect(lines).toEqual([`rekeyed ${await boxPublicKey()}`]);
    for (const config of [tunnelConfig, directConfig]) {
      expect(readFileSync(config, 'utf8')).toContain(`Host rekeyed\n`);
      expect(readFileSync(config, 'utf8')).toContain(`  HostKeyAlias rekeyed\n  UserKnownHostsFile ${knownHosts}\n  StrictHostKeyChecking yes\n`);
      const reached = await ssh(config, 'rekeyed');
      expect(reached.stderr).toBe('');
      expect(reached.code).toBe(0);
    }

    // A box without a pin is refused by the laptop, never trusted on first use (even once the tunnel reaches it).
    const fresh = await ssh(tunnelConfig, 'fresh');
    expect(fresh.code).toBe(255);
    expect(fresh.stderr).toContain('No ED25519 host key is known for fresh and you have requested strict checking.');
  });

  it('a regenerated key is refused until an admin re-pins it, and the next connect makes ssh work again', async () => {
    const oldFingerprint = await lab.hostKeyFingerprint('ed25519');
    const oldKey = await boxPublicKey();
    await lab.regenerateHostKeys();
    const newFingerprint = await lab.hostKeyFingerprint('ed25519');
    const newKey = await boxPublicKey();
    expect(newKey).not.toBe(oldKey);
    await until(() => backend.services.pool.stats().connections === 0, 'the dashboard connections the sshd restart closed', 10_000);

    // The laptop's direct ssh refuses on its own; through the tunnel the dashboard refuses first, as it does today.
    const direct = await ssh(directConfig, 'rekeyed');
    expect(direct.code).toBe(255);
    expect(direct.stderr).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED');
    const tunnel = await ssh(tunnelConfig, 'rekeyed');
    expect(tunnel.code).toBe(255);
    // (A WebSocket close reason holds 123 bytes: the proxy's message is cut after the old fingerprint.)
    expect(tunnel.stderr).toContain(`boxyard: host key changed: expected ${oldFingerprint}`);
    expect(await backend.services.remote.probe(boxId)).toBe('host-key-mismatch');
    const mismatched = await backend.services.db.box.findUniqueOrThrow({ where: { id: boxId } });
    expect(mismatched.statusMessage).toContain(`host key changed: expected ${oldFingerprint}, got ${newFingerprint}`);
    expect(mismatched.offeredHostKeyFingerprint).toBe(newFingerprint);

    // The admin trusts the new key. The dashboard reaches the box again, but the laptop still holds the old key:
    // its own ssh refuses, through the tunnel too, until connect brings it the new pin.
    await repinHostKey(backend.services.db, backend.admin.user, boxId, newFingerprint);
    expect(await backend.services.remote.probe(boxId)).toBe('online');
    for (const config of [tunnelConfig, directConfig]) {
      const stale = await ssh(config, 'rekeyed');
      expect(stale.code).toBe(255);
      expect(stale.stderr).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED');
    }

    const ran = await connectBoth();
    expect(ran.stdout).toContain(`${knownHosts}: wrote the pinned host keys of 2 box(es).`);
    const written = readFileSync(knownHosts, 'utf8');
    expect(written).toContain(`rekeyed ${newKey}\n`);
    expect(written).not.toContain(`rekeyed ${oldKey}`);
    for (const config of [tunnelConfig, directConfig]) {
      const reached = await ssh(config, 'rekeyed');
      expect(reached.stderr).toBe('');
      expect(reached.code).toBe(0);
    }
  });
});

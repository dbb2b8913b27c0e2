import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import { isAppError } from '../errors';
import {
  HostKeyMismatchError,
  HostKeyVerifier,
  describeHostKey,
  hostKeyAlgorithmsFor,
  keyBlobAlgorithm,
  sshFingerprint,
  type HostKeyInfo,
} from './hostkey';
import { SshPool } from './pool';
import { sh } from './quote';
import { LAB_START_TIMEOUT_MS, labTarget } from '../../testing/helpers/ssh';

const dir = mkdtempSync(join(tmpdir(), 'boxyard-hostkey-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let keyCount = 0;
function keygen(type: string): { blob: Buffer; fingerprint: string } {
  const path = join(dir, `${type}-${++keyCount}`);
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', type, '-f', path]);
  const blob = Buffer.from(readFileSync(`${path}.pub`, 'utf8').split(' ')[1], 'base64');
  const fingerprint = /SHA256:\S+/.exec(execFileSync('ssh-keygen', ['-lf', `${path}.pub`], { encoding: 'utf8' }))![0];
  return { blob, fingerprint };
}

describe('sshFingerprint', () => {
  it.each([
    ['ed25519', 'ssh-ed25519'],
    ['ecdsa', 'ecdsa-sha2-nistp256'],
    ['rsa', 'ssh-rsa'],
  ])('matches ssh-keygen -lf for an %s key', (type, algorithm) => {
    const key = keygen(type);
    expect(sshFingerprint(key.blob)).toBe(key.fingerprint);
    expect(describeHostKey(key.blob)).toEqual({ fingerprint: key.fingerprint, algorithm, blob: key.blob.toString('base64') });
  });

  it('is unpadded base64', () => {
    expect(sshFingerprint(Buffer.from('x'))).not.toMatch(/=$/);
    expect(sshFingerprint(Buffer.from('x'))).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('names the key type of odd blobs "unknown"', () => {
    expect(keyBlobAlgorithm(Buffer.alloc(2))).toBe('unknown');
    expect(keyBlobAlgorithm(Buffer.from([0, 0, 0, 200, 1]))).toBe('unknown');
  });
});

describe('HostKeyVerifier', () => {
  const key = keygen('ed25519');

  it('without a pin accepts the first key and reports it for pinning', () => {
    const verifier = new HostKeyVerifier(null, 'box:22');
    expect(verifier.verify(key.blob)).toBe(true);
    expect(verifier.pinnedNow).toBe(true);
    expect(verifier.offered).toEqual({ fingerprint: key.fingerprint, algorithm: 'ssh-ed25519', blob: key.blob.toString('base64') });
    expect(verifier.matchedPin).toBe(false);
  });

  it('accepts the pinned key', () => {
    const verifier = new HostKeyVerifier(key.fingerprint, 'box:22');
    expect(verifier.verify(key.blob)).toBe(true);
    expect(verifier.pinnedNow).toBe(false);
    expect(verifier.mismatch).toBeNull();
    // The full key of a pin known by its fingerprint only: what the caller may store as the pinned key.
    expect(verifier.matchedPin).toBe(true);
    expect(verifier.offered?.blob).toBe(key.blob.toString('base64'));
  });

  it('refuses another key with a plain message and the offered key for re-pinning', () => {
    const pinned = 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    const verifier = new HostKeyVerifier(pinned, '127.0.0.1:2201');
    expect(verifier.verify(key.blob)).toBe(false);
    expect(verifier.pinnedNow).toBe(false);
    const error = verifier.mismatch!;
    expect(error).toBeInstanceOf(HostKeyMismatchError);
    expect(isAppError(error, 'SSH_HOST_KEY_MISMATCH')).toBe(true);
    expect(error.message).toContain(`host key changed: expected ${pinned}, got ${key.fingerprint} (127.0.0.1:2201)`);
    expect(error.message).toMatch(/re-pin/);
    expect(error.offered).toEqual({ fingerprint: key.fingerprint, algorithm: 'ssh-ed25519', blob: key.blob.toString('base64') });
    expect(error.expected).toBe(pinned);
    expect(verifier.matchedPin).toBe(false);
  });
});

describe('hostKeyAlgorithmsFor', () => {
  it('prefers ed25519 by default and the pinned type when there is one', () => {
    expect(hostKeyAlgorithmsFor()[0]).toBe('ssh-ed25519');
    expect(hostKeyAlgorithmsFor('ecdsa-sha2-nistp256')[0]).toBe('ecdsa-sha2-nistp256');
    expect(hostKeyAlgorithmsFor('ssh-rsa').slice(0, 3)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    expect(hostKeyAlgorithmsFor('unknown')).toEqual(hostKeyAlgorithmsFor());
    expect(new Set(hostKeyAlgorithmsFor('ssh-rsa')).size).toBe(hostKeyAlgorithmsFor().length);
  });
});

describe('against a real box', () => {
  let box: LabBox;
  const pool = new SshPool();

  beforeAll(async () => {
    box = await startLabBox({ namePrefix: 'boxyard-hostkey' });
    pool.start();
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    await pool.stop();
    await box?.remove();
  });

  it.each([
    ['ed25519', 'ssh-ed25519'],
    ['ecdsa', 'ecdsa-sha2-nistp256'],
    ['rsa', 'ssh-rsa'],
  ] as const)('pins the %s host key with the fingerprint ssh-keygen -lf gives on the box', async (type, algorithm) => {
    const pinned: HostKeyInfo[] = [];
    const target = labTarget(box, { pinnedHostKeyType: algorithm, onHostKeyPinned: (key) => void pinned.push(key) });
    await pool.exec(`hostkey-${type}`, target, sh`true`, { timeoutMs: 10_000 });
    expect(pinned).toEqual([{ fingerprint: await box.hostKeyFingerprint(type), algorithm, blob: (await box.hostPublicKey(type)).blob }]);
  });
});

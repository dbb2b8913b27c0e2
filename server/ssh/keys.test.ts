import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAppError } from '../errors';
import { generateDashboardKeyPair, parsePrivateKey } from './keys';

const dir = mkdtempSync(join(tmpdir(), 'boxyard-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A key made by the real ssh-keygen, with what ssh-keygen says its public half and fingerprint are. */
function sshKeygen(name: string, args: string[], passphrase = '') {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-N', passphrase, '-C', `${name}@test`, '-f', path, ...args]);
  const fingerprint = /SHA256:\S+/.exec(execFileSync('ssh-keygen', ['-lf', `${path}.pub`], { encoding: 'utf8' }))![0];
  return { privateKey: readFileSync(path, 'utf8'), publicKey: readFileSync(`${path}.pub`, 'utf8').trim(), fingerprint };
}

describe('generateDashboardKeyPair', () => {
  it('makes an OpenSSH ed25519 pair that ssh-keygen reads and agrees with', () => {
    const pair = generateDashboardKeyPair('boxyard@test');
    expect(pair.privateKey).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----/);
    expect(pair.publicKey).toMatch(/^ssh-ed25519 AAAA\S+ boxyard@test$/);

    const path = join(dir, 'generated');
    writeFileSync(path, pair.privateKey, { mode: 0o600 });
    const derived = execFileSync('ssh-keygen', ['-y', '-f', path], { encoding: 'utf8' }).trim();
    expect(pair.publicKey.startsWith(derived)).toBe(true);
    writeFileSync(`${path}.pub`, `${pair.publicKey}\n`);
    expect(execFileSync('ssh-keygen', ['-lf', `${path}.pub`], { encoding: 'utf8' })).toContain(pair.fingerprint);
  });

  it('parses back to the same public key', () => {
    const pair = generateDashboardKeyPair('again');
    expect(parsePrivateKey(pair.privateKey)).toMatchObject({ type: 'ssh-ed25519', publicKey: pair.publicKey, comment: 'again' });
  });

  it('never hands out a pair that ssh2 cannot read back (its leading-zero bug hits about 1 pair in 256)', () => {
    // 2,000 pairs: without the check about 8 of them would be broken.
    for (let i = 0; i < 2000; i++) {
      const pair = generateDashboardKeyPair('many');
      expect(parsePrivateKey(pair.privateKey).publicKey).toBe(pair.publicKey);
    }
  });
});

describe('parsePrivateKey', () => {
  it.each([
    ['ed25519', ['-t', 'ed25519'], 'ssh-ed25519'],
    ['ecdsa', ['-t', 'ecdsa', '-b', '256'], 'ecdsa-sha2-nistp256'],
    ['rsa-openssh', ['-t', 'rsa', '-b', '2048'], 'ssh-rsa'],
    ['rsa-pem', ['-t', 'rsa', '-b', '2048', '-m', 'PEM'], 'ssh-rsa'],
  ])('reads a %s key from ssh-keygen', (name, args, type) => {
    const key = sshKeygen(name, args);
    const parsed = parsePrivateKey(key.privateKey);
    expect(parsed.type).toBe(type);
    expect(parsed.fingerprint).toBe(key.fingerprint);
    // ssh-keygen's .pub line is "type base64 comment"; PEM files carry no comment.
    expect(key.publicKey.startsWith(parsed.publicKey)).toBe(true);
  });

  it('asks for the passphrase of an encrypted key, and accepts the right one', () => {
    const key = sshKeygen('encrypted', ['-t', 'ed25519'], 'correct horse');
    expect(() => parsePrivateKey(key.privateKey)).toThrowError('this private key is encrypted: enter its passphrase');
    expect(() => parsePrivateKey(key.privateKey, 'wrong')).toThrowError('the passphrase does not unlock this private key');
    expect(parsePrivateKey(key.privateKey, 'correct horse').fingerprint).toBe(key.fingerprint);
  });

  it('handles an encrypted PEM key the same way', () => {
    const key = sshKeygen('encrypted-pem', ['-t', 'rsa', '-b', '2048', '-m', 'PEM'], 'pem secret');
    expect(() => parsePrivateKey(key.privateKey)).toThrowError(/encrypted: enter its passphrase/);
    expect(() => parsePrivateKey(key.privateKey, 'nope')).toThrowError(/passphrase does not unlock|could not be read/);
    expect(parsePrivateKey(key.privateKey, 'pem secret').fingerprint).toBe(key.fingerprint);
  });

  it('refuses a public key and garbage with BAD_INPUT', () => {
    const key = sshKeygen('public', ['-t', 'ed25519']);
    expect(() => parsePrivateKey(key.publicKey)).toThrowError(/this is a public key/);
    let error: unknown;
    try {
      parsePrivateKey('not a key');
    } catch (caught) {
      error = caught;
    }
    expect(isAppError(error, 'BAD_INPUT')).toBe(true);
    expect((error as Error).message).toMatch(/not a private key ssh understands/);
  });
});

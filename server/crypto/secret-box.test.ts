import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAppError } from '../errors';
import { SecretBox, loadSecretKey } from './secret-box';

describe('SecretBox', () => {
  const box = new SecretBox(Buffer.alloc(32, 7));

  it('round-trips and never stores the plaintext', () => {
    const envelope = box.encrypt('hunter2-password', 'box:1');
    expect(envelope.startsWith('v1:')).toBe(true);
    expect(envelope).not.toContain('hunter2');
    expect(box.decrypt(envelope, 'box:1')).toBe('hunter2-password');
  });

  it('uses a fresh IV each time', () => {
    expect(box.encrypt('same', 'l')).not.toBe(box.encrypt('same', 'l'));
  });

  it('refuses a ciphertext moved to another label or tampered with', () => {
    const envelope = box.encrypt('secret', 'box:1');
    expect(() => box.decrypt(envelope, 'box:2')).toThrow(/could not be decrypted/);
    const raw = Buffer.from(envelope.slice(3), 'base64');
    raw[raw.length - 1] ^= 1;
    let error: unknown;
    try {
      box.decrypt(`v1:${raw.toString('base64')}`, 'box:1');
    } catch (e) {
      error = e;
    }
    expect(isAppError(error, 'INTERNAL')).toBe(true);
  });

  it('refuses another key', () => {
    const envelope = box.encrypt('secret', 'l');
    expect(() => new SecretBox(Buffer.alloc(32, 8)).decrypt(envelope, 'l')).toThrow(/secret key changed/);
  });
});

describe('loadSecretKey', () => {
  it('creates a 0600 key file once and reads the same key back', () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'boxyard-key-')), 'data');
    const first = loadSecretKey(dir, undefined);
    expect(first).toHaveLength(32);
    expect(statSync(path.join(dir, 'secret.key')).mode & 0o777).toBe(0o600);
    expect(loadSecretKey(dir, undefined).equals(first)).toBe(true);
  });

  it('takes the key from the environment and rejects a wrong length', () => {
    const key = Buffer.alloc(32, 1).toString('base64');
    expect(loadSecretKey('/nonexistent', key)).toEqual(Buffer.alloc(32, 1));
    expect(() => loadSecretKey('/nonexistent', 'c2hvcnQ=')).toThrow(/32 bytes/);
  });
});

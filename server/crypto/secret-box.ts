import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../errors';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Encrypts secrets at rest (imported private keys, passwords, the dashboard's own key) with
 * AES-256-GCM. The envelope is `v1:<base64 iv|tag|ciphertext>`; the box id (or another label) is
 * bound as associated data so a ciphertext copied onto another row does not decrypt.
 */
export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('SecretBox needs a 32-byte key');
    this.#key = key;
  }

  encrypt(plaintext: string, label: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(label));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  decrypt(envelope: string, label: string): string {
    const [version, payload] = envelope.split(':', 2);
    if (version !== VERSION || !payload) throw new AppError('INTERNAL', 'A stored secret has an unknown format.');
    const raw = Buffer.from(payload, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(label));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch (cause) {
      throw new AppError(
        'INTERNAL',
        'A stored secret could not be decrypted: the secret key changed since it was saved. Restore the old key or enter the credential again.',
        { cause },
      );
    }
  }

  /** A separate key for another purpose (e.g. signing session cookies), so one key never serves two. */
  derive(purpose: string): string {
    return Buffer.from(hkdfSync('sha256', this.#key, Buffer.alloc(0), purpose, 32)).toString('base64');
  }
}

/** The key from BOXYARD_SECRET_KEY, else from `<dataDir>/secret.key`, created (0600) on first start. */
export function loadSecretKey(dataDir: string, fromEnv: string | undefined): Buffer {
  if (fromEnv) {
    const key = Buffer.from(fromEnv, 'base64');
    if (key.length !== 32) throw new Error('BOXYARD_SECRET_KEY must be 32 bytes in base64 (openssl rand -base64 32).');
    return key;
  }
  const file = path.join(dataDir, 'secret.key');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // 'wx' fails if another process created it meanwhile: never overwrite a key.
    writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key.`);
  return key;
}

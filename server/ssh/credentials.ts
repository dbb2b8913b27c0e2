import type { z } from 'zod';
import type { boxAuth } from '../../lib/validation';
import type { SecretBox } from '../crypto/secret-box';
import type { SshAuth } from './pool';

/**
 * How a box or a host signs in, shared by both: the dashboard's own key, an imported private key, or a password.
 * The secret half is stored encrypted (SecretBox) and bound to its row by a label such as `box:<id>` or `host:<id>`.
 */
export type CredentialsInput = z.output<typeof boxAuth>;
export type StoredCredentials =
  | { method: 'dashboard-key' }
  | { method: 'private-key'; privateKey: string; passphrase?: string }
  | { method: 'password'; password: string };

/** The plaintext to encrypt for these credentials, or null when there is nothing secret (the dashboard key). */
export function credentialSecret(auth: CredentialsInput): string | null {
  if (auth.method === 'private-key') return JSON.stringify({ privateKey: auth.privateKey, passphrase: auth.passphrase });
  if (auth.method === 'password') return auth.password;
  return null;
}

/** Decrypts a row's credentials, for the SSH layer only. */
export function decryptCredentials(
  row: { authMethod: string; secretCipher: string | null },
  secrets: SecretBox,
  label: string,
): StoredCredentials {
  if (row.authMethod === 'dashboard-key' || !row.secretCipher) return { method: 'dashboard-key' };
  const secret = secrets.decrypt(row.secretCipher, label);
  if (row.authMethod === 'password') return { method: 'password', password: secret };
  const { privateKey, passphrase } = JSON.parse(secret) as { privateKey: string; passphrase?: string };
  return { method: 'private-key', privateKey, passphrase };
}

/** What the pool signs in with. */
export function sshAuthFor(credentials: StoredCredentials, dashboardPrivateKey: string): SshAuth {
  if (credentials.method === 'password') return { kind: 'password', password: credentials.password };
  if (credentials.method === 'private-key') return { kind: 'key', privateKey: credentials.privateKey, passphrase: credentials.passphrase };
  return { kind: 'key', privateKey: dashboardPrivateKey };
}

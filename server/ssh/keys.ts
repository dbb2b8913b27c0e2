import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { AppError } from '../errors';
import { sshFingerprint } from './hostkey';

// ssh2 is CommonJS without static named exports; Node's ESM loader only offers the default export.
const { utils } = ssh2;

export interface DashboardKeyPair {
  /** OpenSSH format ("-----BEGIN OPENSSH PRIVATE KEY-----"), unencrypted: store it encrypted at rest. */
  privateKey: string;
  /** One authorized_keys line: "ssh-ed25519 AAAA... comment". */
  publicKey: string;
  fingerprint: string;
}

export interface ImportedKey {
  /** Key type, e.g. "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256". */
  type: string;
  /** One authorized_keys line for the key's public half. */
  publicKey: string;
  fingerprint: string;
  comment: string;
}

/**
 * A fresh ed25519 key pair for the dashboard to log into boxes with. ssh2 drops a leading zero byte of the public
 * key (mscdex/ssh2#1513): about 1 pair in 256 cannot be parsed back and would never log in anywhere. Such a pair is
 * thrown away and another made; the pair is made once per dashboard, so the check costs nothing that matters.
 */
export function generateDashboardKeyPair(comment = 'boxyard'): DashboardKeyPair {
  for (let attempt = 0; attempt < 16; attempt++) {
    const pair = utils.generateKeyPairSync('ed25519', { comment });
    const publicKey = pair.public.trim();
    const blob = Buffer.from(publicKey.split(' ')[1] ?? '', 'base64');
    const parsed = utils.parseKey(pair.private);
    if (!(parsed instanceof Error) && !Array.isArray(parsed) && parsed.getPublicSSH().equals(blob)) {
      return { privateKey: pair.private, publicKey, fingerprint: sshFingerprint(blob) };
    }
  }
  throw new AppError('INTERNAL', 'Could not make a usable SSH key pair for the dashboard.');
}

/**
 * Checks an imported private key (OpenSSH, PEM/PKCS#1/PKCS#8 or PuTTY format) and returns its public half.
 * Encrypted keys need their passphrase. Errors are BAD_INPUT with a message meant for the person importing.
 */
export function parsePrivateKey(privateKey: string | Buffer, passphrase?: string): ImportedKey {
  const parsed = parseKeyOrThrow(privateKey, passphrase);
  const blob = parsed.getPublicSSH();
  const comment = parsed.comment ?? '';
  return {
    type: parsed.type,
    publicKey: comment ? `${parsed.type} ${blob.toString('base64')} ${comment}` : `${parsed.type} ${blob.toString('base64')}`,
    fingerprint: sshFingerprint(blob),
    comment,
  };
}

/** ssh2's parsed form of a private key, for the pool to hand to ssh2 without parsing twice. */
export function parseKeyOrThrow(privateKey: string | Buffer, passphrase?: string): ParsedKey {
  // Empty passphrase means "none": ssh2 would otherwise try to decrypt with "".
  const result = utils.parseKey(privateKey, passphrase || undefined);
  // parseKey returns an array for files holding several keys (PuTTY); we use the first, like ssh -i does.
  const parsed = Array.isArray(result) ? (result[0] as ParsedKey | undefined) : result;
  if (parsed === undefined || parsed instanceof Error) {
    const raw = parsed?.message ?? 'no key found';
    throw new AppError('BAD_INPUT', describeParseError(raw, !!passphrase), { internal: raw });
  }
  if (!parsed.isPrivateKey()) {
    throw new AppError('BAD_INPUT', 'this is a public key; paste the private key (the file without .pub)');
  }
  return parsed;
}

function describeParseError(raw: string, hadPassphrase: boolean): string {
  if (/no passphrase given/i.test(raw)) return 'this private key is encrypted: enter its passphrase';
  if (/bad passphrase|decrypt|integrity check/i.test(raw) && hadPassphrase) {
    return 'the passphrase does not unlock this private key';
  }
  if (/unsupported key format/i.test(raw)) {
    return 'not a private key ssh understands: paste an OpenSSH, PEM or PuTTY private key';
  }
  return `the private key could not be read: ${raw}`;
}

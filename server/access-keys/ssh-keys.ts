import ssh2 from 'ssh2';
import { z } from 'zod';
import { peopleOfBox, type SessionUser } from '../boxes/access';
import type { Db } from '../db/client';
import { AppError } from '../errors';
import { sshFingerprint } from '../ssh/hostkey';

// ssh2 is CommonJS without static named exports; Node's ESM loader only offers the default export.
const { utils } = ssh2;

/** Developers' SSH public keys: what they add on their profile, and what provisioning installs on their boxes. */

export const sshKeyInput = z.object({
  name: z
    .string()
    .trim()
    .min(1, 'Give the key a name, e.g. "laptop".')
    .max(100, 'A key name is at most 100 characters.')
    // It ends up in authorized_keys comments: one printable line.
    .regex(/^[^\p{Cc}]+$/u, 'A key name is one line of printable characters.'),
  publicKey: z.string().min(1, 'Paste your public key.').max(16_384, 'That is too long for a public key.'),
});

const MIN_RSA_BITS = 2048;
const acceptedTypes = new Set(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa']);

export interface DeveloperPublicKey {
  /** e.g. "ssh-ed25519" */
  type: string;
  /** "type base64 comment", rebuilt from the parsed key: never options (command=, from=) or a second line. */
  publicKey: string;
  /** OpenSSH "SHA256:..." form */
  fingerprint: string;
}

/** Bit length of the modulus in an ssh-rsa public key blob (string type, mpint e, mpint n). */
function rsaModulusBits(blob: Buffer): number {
  let offset = 0;
  const next = () => {
    const length = blob.readUInt32BE(offset);
    const value = blob.subarray(offset + 4, offset + 4 + length);
    offset += 4 + length;
    return value;
  };
  next(); // "ssh-rsa"
  next(); // e
  const n = next();
  const first = n.findIndex((byte) => byte !== 0);
  if (first < 0) return 0;
  return (n.length - first - 1) * 8 + (32 - Math.clz32(n[first]!));
}

/**
 * Checks one pasted public key line (the content of a .pub file) and returns it normalised. Errors are BAD_INPUT
 * with a message for the developer; a private key is refused without ever being echoed, logged or stored.
 */
export function parsePublicKey(text: string): DeveloperPublicKey {
  const line = text.trim();
  if (/PRIVATE KEY|PuTTY-User-Key-File/.test(line)) {
    throw new AppError('BAD_INPUT', 'That is a private key: keep it secret, and never paste it anywhere. Paste the public key instead: the .pub file next to it, e.g. ~/.ssh/id_ed25519.pub.');
  }
  if (line.includes('\n')) throw new AppError('BAD_INPUT', 'Paste one key at a time: a public key is a single line.');
  const parsed = utils.parseKey(line);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error) {
    throw new AppError('BAD_INPUT', 'That is not an SSH public key. Paste one line like "ssh-ed25519 AAAA… you@laptop" (the content of your .pub file).', {
      internal: key?.message,
    });
  }
  if (key.isPrivateKey()) {
    throw new AppError('BAD_INPUT', 'That is a private key: keep it secret. Paste the public key instead (the .pub file).');
  }
  if (!acceptedTypes.has(key.type)) {
    throw new AppError('BAD_INPUT', `${key.type} keys are not accepted; use an ed25519 key (ssh-keygen -t ed25519), ECDSA, or RSA of at least ${MIN_RSA_BITS} bits.`);
  }
  const blob = key.getPublicSSH();
  if (key.type === 'ssh-rsa') {
    const bits = rsaModulusBits(blob);
    if (bits < MIN_RSA_BITS) {
      throw new AppError('BAD_INPUT', `This RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are needed. Better: make an ed25519 key (ssh-keygen -t ed25519).`);
    }
  }
  // Control characters would let a comment start a new authorized_keys line.
  const comment = (key.comment ?? '').replace(/\p{Cc}/gu, ' ').trim();
  const base = `${key.type} ${blob.toString('base64')}`;
  return { type: key.type, publicKey: comment ? `${base} ${comment}` : base, fingerprint: sshFingerprint(blob) };
}

const keyView = { id: true, name: true, publicKey: true, fingerprint: true, createdAt: true } as const;

export function listSshKeys(db: Db, userId: string) {
  return db.userSshKey.findMany({ where: { userId }, select: keyView, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] });
}

export async function addSshKey(db: Db, user: SessionUser, input: z.output<typeof sshKeyInput>) {
  const key = parsePublicKey(input.publicKey);
  const existing = await db.userSshKey.findUnique({ where: { userId_fingerprint: { userId: user.id, fingerprint: key.fingerprint } } });
  if (existing) throw new AppError('CONFLICT', `You already added this key, as "${existing.name}".`);
  return db.userSshKey.create({
    data: { userId: user.id, name: input.name, publicKey: key.publicKey, fingerprint: key.fingerprint },
    select: keyView,
  });
}

/** Removes one of the user's own keys; someone else's key id looks the same as an unknown one. */
export async function removeSshKey(db: Db, user: SessionUser, id: string) {
  const key = await db.userSshKey.findFirst({ where: { id, userId: user.id }, select: keyView });
  if (!key) throw new AppError('NOT_FOUND', 'No such key (already removed?).');
  await db.userSshKey.deleteMany({ where: { id, userId: user.id } });
  return key;
}

export interface BoxDeveloperKey {
  email: string;
  keyName: string;
  publicKey: string;
}

/**
 * The keys of a box's people (its owner, its members, the members of the groups that reach it: peopleOfBox), in a
 * stable order (so an unchanged set renders the same file).
 */
export async function boxDeveloperKeys(db: Db, boxId: string): Promise<BoxDeveloperKey[]> {
  const people = await peopleOfBox(db, boxId);
  if (!people) throw new AppError('NOT_FOUND', 'That box was deleted.');
  const keys = await db.userSshKey.findMany({
    where: { userId: { in: people } },
    select: { name: true, publicKey: true, user: { select: { email: true } } },
    orderBy: [{ user: { email: 'asc' } }, { createdAt: 'asc' }, { id: 'asc' }],
  });
  return keys.map((key) => ({ email: key.user.email, keyName: key.name, publicKey: key.publicKey }));
}

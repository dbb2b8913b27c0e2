import type { SecretBox } from '../crypto/secret-box';
import type { Db } from '../db/client';
import { generateDashboardKeyPair } from '../ssh/keys';

const PUBLIC_KEY = 'dashboard.ssh.publicKey';
const PRIVATE_KEY = 'dashboard.ssh.privateKey';

export interface DashboardKey {
  publicKey: string;
  privateKey: string;
}

/** The dashboard's own ed25519 key pair, made on first start; the private half is stored encrypted. */
export async function ensureDashboardKey(db: Db, secrets: SecretBox): Promise<DashboardKey> {
  const stored = await readDashboardKey(db, secrets);
  if (stored) return stored;
  const pair = generateDashboardKeyPair('boxyard-dashboard');
  try {
    await db.$transaction([
      db.setting.create({ data: { key: PRIVATE_KEY, value: secrets.encrypt(pair.privateKey, PRIVATE_KEY) } }),
      db.setting.create({ data: { key: PUBLIC_KEY, value: pair.publicKey } }),
    ]);
    return pair;
  } catch (error) {
    // Another dashboard process sharing the database created it first: use theirs.
    const theirs = await readDashboardKey(db, secrets);
    if (theirs) return theirs;
    throw error;
  }
}

async function readDashboardKey(db: Db, secrets: SecretBox): Promise<DashboardKey | null> {
  const rows = await db.setting.findMany({ where: { key: { in: [PUBLIC_KEY, PRIVATE_KEY] } } });
  const publicKey = rows.find((r) => r.key === PUBLIC_KEY)?.value;
  const privateCipher = rows.find((r) => r.key === PRIVATE_KEY)?.value;
  if (!publicKey || !privateCipher) return null;
  return { publicKey, privateKey: secrets.decrypt(privateCipher, PRIVATE_KEY) };
}

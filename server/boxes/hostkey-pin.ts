import { z } from 'zod';
import { idInput } from '../../lib/validation';
import { recordAudit } from '../audit/audit';
import type { Db } from '../db/client';
import { AppError } from '../errors';
import { describeHostKey } from '../ssh/hostkey';
import type { SessionUser } from './access';
import { getBoxRow } from './boxes';

export const repinInput = idInput.extend({
  fingerprint: z.string().max(50, 'A fingerprint is SHA256: followed by 43 characters.').regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'A fingerprint looks like SHA256: followed by 43 characters.'),
});

/**
 * Re-pins a box's host key after a mismatch. The admin names the fingerprint they checked, and it must
 * be the one the box offered, so a key that changed again since they looked is not trusted by accident.
 */
export async function repinHostKey(db: Db, admin: SessionUser, boxId: string, fingerprint: string) {
  const box = await getBoxRow(db, admin, boxId);
  if (!box.offeredHostKeyFingerprint) {
    throw new AppError('CONFLICT', 'This box has not offered a different host key; there is nothing to re-pin.');
  }
  if (box.offeredHostKeyFingerprint !== fingerprint) {
    throw new AppError('CONFLICT', `The box now offers ${box.offeredHostKeyFingerprint}, not ${fingerprint}; check the key again before trusting it.`);
  }
  // The offered key in full becomes the pin (the laptops' known_hosts get it on their next `boxyard connect`). An offer
  // recorded before full keys were stored has none: the next connection, verified against the new fingerprint, fills it in.
  const offered = box.offeredHostKeyBlob ? describeHostKey(Buffer.from(box.offeredHostKeyBlob, 'base64')) : null;
  const offeredKey = offered?.fingerprint === fingerprint ? { hostKeyBlob: offered.blob, hostKeyAlgorithm: offered.algorithm } : { hostKeyBlob: null };
  const { count } = await db.box.updateMany({
    where: { id: box.id, offeredHostKeyFingerprint: fingerprint },
    data: {
      hostKeyFingerprint: fingerprint,
      ...offeredKey,
      hostKeyPinnedAt: new Date(),
      offeredHostKeyFingerprint: null,
      offeredHostKeyBlob: null,
      status: 'unknown',
      statusMessage: '',
    },
  });
  if (count === 0) throw new AppError('CONFLICT', 'The box changed while you were re-pinning; reload and try again.');
  await recordAudit(db, {
    actor: admin,
    action: 'box.hostkey.repin',
    box: { id: box.id, name: box.name },
    detail: { from: box.hostKeyFingerprint, to: fingerprint },
    result: 'ok',
  });
  return box;
}

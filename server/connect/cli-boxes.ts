import { recordAudit } from '../audit/audit';
import { reachableBoxes, type SessionUser } from '../boxes/access';
import type { Db } from '../db/client';
import type { PinnedHostKey } from '../../lib/validation';
import type { ConnectBox } from './snippets';

/** A box as `boxyard connect` gets it: its ssh entry's fields and the host key the dashboard pinned (null before the first connection). */
export interface CliBox extends ConnectBox {
  hostKey: PinnedHostKey | null;
}

/** What `GET /api/cli/boxes` answers (server/http/cli-api.ts): the boxes the token's user may reach. */
export interface CliBoxesResponse {
  user: { email: string };
  boxes: CliBox[];
}

/** The boxes `user` may reach, as the CLI writes them into ~/.ssh/config and its known_hosts; audited with the token used. */
export async function listCliBoxes(db: Db, user: SessionUser, tokenId: string): Promise<CliBoxesResponse> {
  const boxes = await db.box.findMany({
    where: await reachableBoxes(db, user),
    select: { name: true, host: true, port: true, sshUser: true, hostKeyAlgorithm: true, hostKeyBlob: true },
    orderBy: { name: 'asc' },
  });
  await recordAudit(db, { actor: user, action: 'cli.boxes', detail: { tokenId, boxes: boxes.length }, result: 'ok' });
  return {
    user: { email: user.email },
    boxes: boxes.map((box) => ({
      name: box.name,
      host: box.host,
      port: box.port,
      user: box.sshUser,
      // The CLI writes it into the laptop's known_hosts, so ssh there checks the very key the dashboard checks.
      hostKey: box.hostKeyBlob && box.hostKeyAlgorithm ? { algorithm: box.hostKeyAlgorithm, blob: box.hostKeyBlob } : null,
    })),
  };
}

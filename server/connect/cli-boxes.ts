import { recordAudit } from '../audit/audit';
import { reachableBoxes, type SessionUser } from '../boxes/access';
import type { Db } from '../db/client';
import type { ConnectBox } from './snippets';

/** What `GET /api/cli/boxes` answers (server/http/cli-api.ts): the boxes the token's user may reach. */
export interface CliBoxesResponse {
  user: { email: string };
  boxes: ConnectBox[];
}

/** The boxes `user` may reach, as the CLI writes them into ~/.ssh/config; audited with the token used. */
export async function listCliBoxes(db: Db, user: SessionUser, tokenId: string): Promise<CliBoxesResponse> {
  const boxes = await db.box.findMany({
    where: reachableBoxes(user),
    select: { name: true, host: true, port: true, sshUser: true },
    orderBy: { name: 'asc' },
  });
  await recordAudit(db, { actor: user, action: 'cli.boxes', detail: { tokenId, boxes: boxes.length }, result: 'ok' });
  return {
    user: { email: user.email },
    boxes: boxes.map((box) => ({ name: box.name, host: box.host, port: box.port, user: box.sshUser })),
  };
}

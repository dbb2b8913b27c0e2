import { z } from '../../lib/zod';
import { previewOpenPath } from '../../lib/preview';
import { recordId } from '../../lib/validation';
import { publicSharingAllowed } from '../previews/access';
import { listShares, revokeShare, setPublicSharing, shareBoxPort } from '../previews/shares';
import { adminProcedure, authedProcedure, router } from './init';

const port = z.number().int().min(1, 'A port is from 1 to 65535.').max(65535, 'A port is from 1 to 65535.');
const boxPortInput = z.object({ boxId: recordId, port });

/** Previews (server/previews): who sees a box's ports in the browser. Thin; sharing is its owner's (or an admin's). */
export const previewsRouter = router({
  /** How previews are served here (the Previews card states the path form's limits) and whether public links may exist. */
  settings: authedProcedure.query(async ({ ctx }) => ({
    domain: ctx.services.env.BOXYARD_PREVIEW_DOMAIN ?? null,
    publicSharing: await publicSharingAllowed(ctx.services.db),
  })),

  shares: authedProcedure.input(z.object({ boxId: recordId })).query(({ ctx, input }) =>
    listShares(ctx.services, ctx.user, input.boxId, (box, sharedPort, shareId) =>
      new URL(previewOpenPath({ box, port: sharedPort }, ctx.services.previews.cookies.linkToken(shareId)), ctx.services.env.publicUrl).href,
    ),
  ),

  share: authedProcedure
    .input(boxPortInput.extend({ level: z.enum(['authenticated', 'public']) }))
    .mutation(({ ctx, input }) => shareBoxPort(ctx.services, ctx.user, input.boxId, input.port, input.level)),

  revoke: authedProcedure.input(boxPortInput).mutation(({ ctx, input }) => revokeShare(ctx.services, ctx.user, input.boxId, input.port)),

  setPublicSharing: adminProcedure
    .input(z.object({ allowed: z.boolean() }))
    .mutation(({ ctx, input }) => setPublicSharing(ctx.services, ctx.user, input.allowed)),
});

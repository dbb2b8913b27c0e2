import { z } from 'zod';
import { listAudit } from '../audit/audit';
import { adminProcedure, router } from './init';

export const auditRouter = router({
  list: adminProcedure
    .input(
      z.object({
        cursor: z.string().optional(),
        limit: z.number().int().min(1).max(200).default(50),
        boxId: z.string().optional(),
        action: z.string().max(64).optional(),
      }),
    )
    .query(({ ctx, input }) => listAudit(ctx.services.db, input)),
});

import { z } from 'zod';
import { pageSize, recordId } from '../../lib/validation';
import { listAudit } from '../audit/audit';
import { adminProcedure, router } from './init';

export const auditRouter = router({
  list: adminProcedure
    .input(
      z.object({
        cursor: recordId.optional(),
        limit: pageSize.default(50),
        boxId: recordId.optional(),
        action: z.string().max(64).optional(),
      }),
    )
    .query(({ ctx, input }) => listAudit(ctx.services.db, input)),
});

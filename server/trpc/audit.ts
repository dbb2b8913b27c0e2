import { z } from 'zod';
import { email, epochMs, pageSize, recordId } from '../../lib/validation';
import { auditExportFormats, exportAudit, listAudit, pageAudit, type AuditFilter } from '../audit/audit';
import { adminProcedure, router } from './init';

/** The audit page's filters as the browser sends them: bounded strings, times as milliseconds since 1970. */
const auditFilterInput = z.object({
  /** An email; null for what the dashboard did itself. */
  actorEmail: email.nullable().optional(),
  boxId: recordId.optional(),
  hostId: recordId.optional(),
  action: z.string().max(64).optional(),
  result: z.enum(['ok', 'error']).optional(),
  from: epochMs.optional(),
  to: epochMs.optional(),
});

function auditFilter(input: z.output<typeof auditFilterInput>): AuditFilter {
  const { from, to, ...rest } = input;
  return { ...rest, from: from === undefined ? undefined : new Date(from), to: to === undefined ? undefined : new Date(to) };
}

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

  /** One numbered page of the filtered events, newest first, and how many match. */
  page: adminProcedure
    .input(auditFilterInput.extend({ page: z.number().int().min(1).max(100_000).default(1), pageSize: pageSize.default(50) }))
    .query(({ ctx, input }) => {
      const { page, pageSize: size, ...filter } = input;
      return pageAudit(ctx.services.db, auditFilter(filter), { page, pageSize: size });
    }),

  /** Every filtered event (all pages) as CSV or JSON, for a download; audited. A mutation: it writes the audit row. */
  export: adminProcedure
    .input(auditFilterInput.extend({ format: z.enum(auditExportFormats) }))
    .mutation(({ ctx, input }) => {
      const { format, ...filter } = input;
      return exportAudit(ctx.services.db, ctx.user, auditFilter(filter), format);
    }),
});

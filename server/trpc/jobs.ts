import { tracked } from '@trpc/server';
import { z } from 'zod';
import { eventCursor, idInput, pageSize, recordId } from '../../lib/validation';
import { AppError } from '../errors';
import { followJobLog, getJob, getJobRow, jobFilterOptions, jobStatuses, listJobs, pageJobs } from '../jobs/jobs';
import { adminProcedure, authedProcedure, router } from './init';

/** Jobs (provisioning and the like). Each recipe has its own procedure to start one, e.g. provision.docker. */
export const jobsRouter = router({
  /** Newest first; developers see the jobs of the boxes they may reach. */
  list: authedProcedure
    .input(z.object({ boxId: recordId.optional(), limit: pageSize.default(50) }).optional())
    .query(({ ctx, input }) => listJobs(ctx.services, ctx.user, { boxId: input?.boxId, limit: input?.limit ?? 50 })),

  /** The jobs page: one page of the jobs the user may see, newest first, filtered by box, kind, status and who started it. */
  page: authedProcedure
    .input(
      z.object({
        boxId: recordId.optional(),
        kind: z.string().max(64).optional(),
        status: z.enum(jobStatuses).optional(),
        /** An email; null for the jobs the dashboard started itself. */
        startedBy: z.string().max(254).nullable().optional(),
        cursor: recordId.optional(),
        limit: pageSize.default(25),
      }),
    )
    .query(({ ctx, input }) => pageJobs(ctx.services, ctx.user, input)),

  /** The boxes, kinds and people the jobs page's filters offer (of the jobs the user may see). */
  filterOptions: authedProcedure.query(({ ctx }) => jobFilterOptions(ctx.services, ctx.user)),

  /** The job with its steps. */
  get: authedProcedure.input(idInput).query(({ ctx, input }) => getJob(ctx.services, ctx.user, input.id)),

  /** A failed or cancelled job again: a new job with the same parameters (refused while another holds its key). */
  retry: adminProcedure.input(idInput).mutation(async ({ ctx, input }) => ({ jobId: await ctx.services.jobs.retry(input.id, ctx.user) })),

  /** Cancels a queued job, or interrupts a running one mid-command. */
  cancel: adminProcedure.input(idInput).mutation(async ({ ctx, input }) => {
    const outcome = await ctx.services.jobs.cancel(input.id, ctx.user);
    if (outcome === 'not-found') throw new AppError('NOT_FOUND', 'No such job.');
    return { id: input.id, outcome };
  }),

  /**
   * The job's log, live: every line so far, then new ones as they are written, then `{ type: 'end' }` when the job
   * finished. Each event's id is the seq of the last line sent, so a client that reconnects with it as lastEventId
   * (httpSubscriptionLink does this itself) continues after that line, without repeats.
   */
  logs: authedProcedure
    .input(idInput.extend({ lastEventId: eventCursor.nullish() }))
    .subscription(async function* ({ ctx, input, signal }) {
      const job = await getJobRow(ctx.services.db, ctx.user, input.id);
      let lastSeq = Number(input.lastEventId ?? 0);
      for await (const event of followJobLog(ctx.services.db, ctx.services.jobs.events, job.id, { afterSeq: lastSeq, signal })) {
        if (event.type === 'line') lastSeq = event.seq;
        yield tracked(String(lastSeq), event);
      }
    }),
});

import { z } from 'zod';
import { boxIdInput, idInput, recordId } from '../../lib/validation';
import { recordAudit } from '../audit/audit';
import { AppError } from '../errors';
import { metricsSettingsPatch, prometheusTokenSet, readMetricsSettings, rotatePrometheusToken, writeMetricsSettings } from '../metrics/settings';
import { boxMetricsStatus, boxSeries, fleetMetrics, watchBox } from '../metrics/views';
import { adminProcedure, authedProcedure, router } from './init';

const policyInput = z
  .object({
    boxId: recordId.optional(),
    tag: z.string().min(1).max(40).optional(),
    idleMinutes: z.number().int().min(1).max(7 * 24 * 60),
    action: z.enum(['suspend', 'power-off', 'none']),
    enabled: z.boolean().default(true),
  })
  .refine((p) => (p.boxId === undefined) !== (p.tag === undefined), { message: 'Give either a box or a tag, not both.' });

/** Metrics, idle status and suspend policies. Box data follows box access (server/boxes/access.ts). */
export const metricsRouter = router({
  fleet: authedProcedure.query(({ ctx }) => fleetMetrics(ctx.services.db, ctx.services.metrics, ctx.user)),

  series: authedProcedure
    .input(boxIdInput.extend({ from: z.number(), to: z.number() }).refine((r) => r.to > r.from, { message: 'The range must end after it starts.' }))
    .query(({ ctx, input }) => boxSeries(ctx.services.db, ctx.services.metrics, ctx.user, input)),

  status: authedProcedure.input(boxIdInput).query(({ ctx, input }) => boxMetricsStatus(ctx.services.db, ctx.services.metrics, ctx.user, input.boxId)),

  /** Sent by the box page every 10 s while it is open: fast sampling. Never counted as activity on the box. */
  watch: authedProcedure.input(boxIdInput).mutation(({ ctx, input }) => watchBox(ctx.services.db, ctx.services.metrics, ctx.user, input.boxId)),

  settings: adminProcedure.query(async ({ ctx }) => ({
    settings: await readMetricsSettings(ctx.services.db),
    prometheusTokenSet: (await prometheusTokenSet(ctx.services.db)) || Boolean(ctx.services.env.BOXYARD_METRICS_TOKEN),
  })),

  updateSettings: adminProcedure.input(metricsSettingsPatch).mutation(async ({ ctx, input }) => {
    const settings = await writeMetricsSettings(ctx.services.db, input);
    await ctx.services.metrics.reloadSettings();
    await recordAudit(ctx.services.db, { actor: ctx.user, action: 'metrics.settings', detail: input, result: 'ok' });
    return settings;
  }),

  /** A new scrape token for /metrics, shown once; the previous one stops working. */
  rotateToken: adminProcedure.mutation(async ({ ctx }) => {
    const token = await rotatePrometheusToken(ctx.services.db);
    await recordAudit(ctx.services.db, { actor: ctx.user, action: 'metrics.token.rotate', result: 'ok' });
    return { token };
  }),

  policies: adminProcedure.query(async ({ ctx }) => {
    const [policies, boxes] = await Promise.all([
      ctx.services.db.suspendPolicy.findMany({ orderBy: { createdAt: 'asc' } }),
      ctx.services.db.box.findMany({ select: { id: true, name: true } }),
    ]);
    const names = new Map(boxes.map((b) => [b.id, b.name]));
    return policies.map((p) => ({ ...p, boxName: p.boxId ? (names.get(p.boxId) ?? null) : null }));
  }),

  savePolicy: adminProcedure.input(policyInput).mutation(async ({ ctx, input }) => {
    const { db } = ctx.services;
    if (input.boxId && !(await db.box.findUnique({ where: { id: input.boxId } }))) throw new AppError('NOT_FOUND', 'That box was deleted.');
    const data = { idleMinutes: input.idleMinutes, action: input.action, enabled: input.enabled };
    const policy = input.boxId
      ? await db.suspendPolicy.upsert({ where: { boxId: input.boxId }, create: { boxId: input.boxId, ...data }, update: data })
      : await db.suspendPolicy.upsert({ where: { tag: input.tag! }, create: { tag: input.tag!, ...data }, update: data });
    await recordAudit(db, { actor: ctx.user, action: 'metrics.policy.save', detail: { ...input, id: policy.id }, result: 'ok' });
    return policy;
  }),

  deletePolicy: adminProcedure.input(idInput).mutation(async ({ ctx, input }) => {
    const { db } = ctx.services;
    const deleted = await db.suspendPolicy.deleteMany({ where: { id: input.id } });
    if (!deleted.count) throw new AppError('NOT_FOUND', 'No such policy.');
    await recordAudit(db, { actor: ctx.user, action: 'metrics.policy.delete', detail: { id: input.id }, result: 'ok' });
    return { id: input.id };
  }),
});

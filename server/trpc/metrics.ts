import { boxIdInput, idInput } from '../../lib/validation';
import { recordAudit } from '../audit/audit';
import { deletePolicy, listPolicies, policyInput, savePolicy } from '../metrics/policies';
import { metricsSettingsPatch, prometheusTokenSet, readMetricsSettings, rotatePrometheusToken, writeMetricsSettings } from '../metrics/settings';
import { boxMetricsStatus, boxSeries, fleetMetrics, seriesInput, watchBox } from '../metrics/views';
import { getBoxRow } from '../boxes/boxes';
import { adminProcedure, authedProcedure, boxProcedure, router } from './init';

/** Metrics, idle status and suspend policies. Box data follows box access (server/boxes/access.ts). */
export const metricsRouter = router({
  fleet: authedProcedure.query(({ ctx }) => fleetMetrics(ctx.services.db, ctx.services.metrics, ctx.user)),

  series: authedProcedure.input(seriesInput).query(({ ctx, input }) => boxSeries(ctx.services.db, ctx.services.metrics, ctx.user, input)),

  status: authedProcedure.input(boxIdInput).query(({ ctx, input }) => boxMetricsStatus(ctx.services.db, ctx.services.metrics, ctx.user, input.boxId)),

  /** Sent by the box page every 10 s while it is open: fast sampling. Never counted as activity on the box. */
  watch: authedProcedure.input(boxIdInput).mutation(({ ctx, input }) => watchBox(ctx.services.db, ctx.services.metrics, ctx.user, input.boxId)),

  /** The box's listening TCP ports and what listens on each (the box page's Ports card polls it). */
  ports: boxProcedure('boxId').query(({ ctx }) => ctx.services.metrics.ports.get(ctx.box.id)),

  /**
   * The box's ports now, then at every change (`boxyard forward --auto`). Access is checked again at each change,
   * so a caller who lost it gets NOT_FOUND at the next one.
   */
  followPorts: boxProcedure('boxId').subscription(async function* ({ ctx, signal }) {
    for await (const ports of ctx.services.metrics.ports.follow(ctx.box.id, signal)) {
      await getBoxRow(ctx.services.db, ctx.user, ctx.box.id);
      yield ports;
    }
  }),

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

  policies: adminProcedure.query(({ ctx }) => listPolicies(ctx.services.db)),

  savePolicy: adminProcedure.input(policyInput).mutation(async ({ ctx, input }) => {
    const policy = await savePolicy(ctx.services.db, input);
    await recordAudit(ctx.services.db, { actor: ctx.user, action: 'metrics.policy.save', detail: { ...input, id: policy.id }, result: 'ok' });
    return policy;
  }),

  deletePolicy: adminProcedure.input(idInput).mutation(async ({ ctx, input }) => {
    await deletePolicy(ctx.services.db, input.id);
    await recordAudit(ctx.services.db, { actor: ctx.user, action: 'metrics.policy.delete', detail: { id: input.id }, result: 'ok' });
    return { id: input.id };
  }),
});

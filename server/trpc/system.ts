import { adminProcedure, router } from './init';

export const systemRouter = router({
  /** The dashboard process's own footprint, for admins (and the memory bounds the browser tests check). */
  stats: adminProcedure.query(({ ctx }) => {
    const memory = process.memoryUsage();
    return {
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      uptimeSeconds: Math.round(process.uptime()),
      ssh: ctx.services.pool.stats(),
    };
  }),
});

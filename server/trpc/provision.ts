import { provisionDocker, provisionDockerInput } from '../provision/provision';
import { adminProcedure, router } from './init';

/** Provisioning recipes; each returns the id of the job it queued (follow it with jobs.get and jobs.logs). */
export const provisionRouter = router({
  /** Docker Engine from the distribution or Docker's repository, daemon.json merged, the SSH user in the docker group. */
  docker: adminProcedure.input(provisionDockerInput).mutation(({ ctx, input }) => provisionDocker(ctx.services, ctx.user, input)),
});

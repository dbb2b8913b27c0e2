import { auditRouter } from './audit';
import { boxesRouter } from './boxes';
import { connectRouter } from './connect';
import { groupsRouter } from './groups';
import { hostsRouter } from './hosts';
import { router } from './init';
import { jobsRouter } from './jobs';
import { mountsRouter } from './mounts';
import { metricsRouter } from './metrics';
import { previewsRouter } from './previews';
import { profileRouter } from './profile';
import { provisionRouter } from './provision';
import { settingsRouter } from './settings';
import { signInRouter } from './sign-in';
import { systemRouter } from './system';
import { terminalsRouter } from './terminals';
import { usersRouter } from './users';
import { vmsRouter } from './vms';

export const appRouter = router({
  boxes: boxesRouter,
  users: usersRouter,
  audit: auditRouter,
  settings: settingsRouter,
  system: systemRouter,
  terminals: terminalsRouter,
  jobs: jobsRouter,
  provision: provisionRouter,
  profile: profileRouter,
  connect: connectRouter,
  hosts: hostsRouter,
  mounts: mountsRouter,
  metrics: metricsRouter,
  vms: vmsRouter,
  groups: groupsRouter,
  signIn: signInRouter,
  previews: previewsRouter,
});

export type AppRouter = typeof appRouter;

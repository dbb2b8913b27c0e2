import { cliInstallCommand } from '../../lib/cli-distribution';
import { cliConnectCommand, connectSnippets } from '../connect/snippets';
import { authedProcedure, boxProcedure, router } from './init';

/** What a developer pastes on their laptop to work on a box (ssh config, docker context, editors). */
export const connectRouter = router({
  snippets: boxProcedure('boxId').query(({ ctx: { box, services } }) => {
    return {
      /** The ssh Host alias and docker context name. */
      alias: box.name,
      snippets: connectSnippets({ name: box.name, host: box.host, port: box.port, user: box.sshUser }),
      cliCommand: cliConnectCommand(services.env.publicUrl),
    };
  }),

  /** The line that installs the CLI from this dashboard (server/http/cli-download.ts) on a laptop. */
  cliInstall: authedProcedure.query(({ ctx }) => ({ command: cliInstallCommand(ctx.services.env.publicUrl) })),
});

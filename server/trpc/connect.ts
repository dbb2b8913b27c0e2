import { boxIdInput } from '../../lib/validation';
import { getBoxRow } from '../boxes/boxes';
import { cliConnectCommand, connectSnippets } from '../connect/snippets';
import { authedProcedure, router } from './init';

/** What a developer pastes on their laptop to work on a box (ssh config, docker context, editors). */
export const connectRouter = router({
  snippets: authedProcedure.input(boxIdInput).query(async ({ ctx, input }) => {
    const box = await getBoxRow(ctx.services.db, ctx.user, input.boxId);
    return {
      /** The ssh Host alias and docker context name. */
      alias: box.name,
      snippets: connectSnippets({ name: box.name, host: box.host, port: box.port, user: box.sshUser }),
      cliCommand: cliConnectCommand(ctx.services.env.publicUrl),
    };
  }),
});

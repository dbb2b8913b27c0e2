/**
 * The dashboard's backend as its own process (everything server/main.ts starts except Next), for
 * dashboard-restart.test.ts, which kills it with SIGKILL in the middle of a job. Prints "ready" once started.
 */
import { loadEnv } from '../../env';
import { startServices } from '../../services';

await startServices(loadEnv(), { pollStatus: false });
process.stdout.write('ready\n');

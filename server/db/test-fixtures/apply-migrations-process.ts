/**
 * A dashboard process starting up, for migrate.test.ts: waits until the given time (so that several processes reach
 * the database together), applies the migrations and prints the names it applied as JSON.
 */
import { applyMigrations } from '../migrate';

const [databaseUrl, startAt] = process.argv.slice(2);
await new Promise((resolve) => setTimeout(resolve, Number(startAt) - Date.now()));
process.stdout.write(JSON.stringify(await applyMigrations(databaseUrl!)));

/**
 * Recovery: turns password sign-in back on, from the server's shell, for when it was turned off and single sign-on
 * cannot be used (the provider is down, or no admin is left in the admin group). Uses the dashboard's own
 * configuration (the same environment as `npm start`): `npx tsx scripts/password-sign-in-on.ts`. Audited as the
 * dashboard itself. The first admin then signs in with their password (BOXYARD_ADMIN_EMAIL).
 */
import { systemActor } from '../server/audit/audit';
import { setPasswordSignIn } from '../server/auth/password-sign-in';
import { createDb } from '../server/db/client';
import { applyMigrations } from '../server/db/migrate';
import { loadEnv } from '../server/env';

const env = loadEnv();
await applyMigrations(env.databaseUrl);
const db = createDb(env.databaseUrl);
await setPasswordSignIn(db, systemActor, { enabled: true, ssoConfigured: env.oidc !== null });
await db.$disconnect();
console.log(`Password sign-in is on again for the dashboard at ${env.publicUrl}.`);

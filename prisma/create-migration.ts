/**
 * npm run db:migration -- <name>
 *
 * Writes prisma/migrations/{sqlite,postgres}/<UTC timestamp>_<name>/migration.sql (plus migration_lock.toml): for each
 * provider, the SQL that takes a database from its existing migrations to the current models. Prisma's schema engine
 * (WebAssembly, see schema-engine.ts) replays the migrations into a scratch shadow database and diffs it against the
 * schema, as `prisma migrate dev --create-only` would; nothing touches a real database.
 *
 * PostgreSQL scratch databases are created on BOXYARD_TEST_PG_URL's server (default: the local development server)
 * and dropped afterwards. Review the SQL before committing: unlike `migrate dev`, this prints no data-loss warnings.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createScratchPgDatabase, type ScratchPgDatabase } from '../server/db/scratch-pg';
import { defaultMigrationsDir } from '../server/db/migrate';
import type { DbProvider } from '../server/db/url';
import { migrationList, migrationLockToml, postgresAdapters, schemaFiles, sqliteAdapters, withSchemaEngine } from './schema-engine';

const pgServerUrl = process.env.BOXYARD_TEST_PG_URL ?? 'postgresql://boxyard:boxyard@127.0.0.1:5432/postgres';
const providers: DbProvider[] = ['sqlite', 'postgres'];

async function main(): Promise<void> {
  const name = migrationName(process.argv[2]);
  // One folder name for both providers, so the two histories stay in step.
  const folder = `${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${name}`;

  // Check and compute everything before writing: a failure must not leave one provider with a migration and not the other.
  const scripts = new Map<DbProvider, string | null>();
  for (const provider of providers) {
    const dir = defaultMigrationsDir(provider);
    const latest = existsSync(dir) ? readdirSync(dir).filter((entry) => /^\d{14}_/.test(entry)).sort().at(-1) : undefined;
    if (latest && latest >= folder) throw new Error(`${provider}: the newest migration ${latest} does not sort before ${folder}; wait a second or check the clock.`);
    scripts.set(provider, await pendingMigrationSql(provider));
  }

  for (const [provider, script] of scripts) {
    const dir = defaultMigrationsDir(provider);
    if (script === null) {
      console.log(`${provider}: no changes`);
      continue;
    }
    mkdirSync(path.join(dir, folder), { recursive: true });
    writeFileSync(path.join(dir, folder, 'migration.sql'), script);
    const lockFile = path.join(dir, 'migration_lock.toml');
    if (!existsSync(lockFile)) writeFileSync(lockFile, migrationLockToml(provider));
    console.log(`${provider}: created ${path.relative(process.cwd(), path.join(dir, folder, 'migration.sql'))}`);
  }
}

/** The SQL from the provider's migrations history to the current schema, or null when they already match. */
async function pendingMigrationSql(provider: DbProvider): Promise<string | null> {
  const scratch: ScratchPgDatabase[] = [];
  let closeAdapters = async () => {};
  try {
    if (provider === 'postgres') {
      // The engine's own connection and its shadow database, both throwaway: the engine is never left to pick one.
      for (const label of ['engine', 'shadow']) scratch.push(await createScratchPgDatabase(pgServerUrl, label));
    }
    const { adapters, close } = provider === 'postgres' ? postgresAdapters(scratch[0]!.url, scratch[1]!.url) : sqliteAdapters(':memory:');
    closeAdapters = close;
    const result = await withSchemaEngine(provider, adapters, (engine) =>
      engine.diff({
        from: { tag: 'migrations', ...migrationList(provider) },
        to: { tag: 'schemaDatamodel', files: schemaFiles(provider) },
        script: true,
        // Exit code 2 means "the diff is not empty".
        exitCode: true,
        filters: { externalTables: [], externalEnums: [] },
      }),
    );
    return result.exitCode === 2 ? (result.stdout ?? '') : null;
  } finally {
    await closeAdapters();
    await Promise.all(scratch.map((database) => database.drop()));
  }
}

/** A folder-safe name, as `prisma migrate dev --name` makes it. */
function migrationName(raw: string | undefined): string {
  const name = (raw ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 200);
  if (!name) {
    console.error('Usage: npm run db:migration -- <name>   (e.g. add_box_labels)');
    process.exit(2);
  }
  return name;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

/**
 * npm run db:generate
 *
 * Generates the two Prisma clients, server/db/generated/sqlite and server/db/generated/postgres, from the schema
 * folders prisma/sqlite and prisma/postgres (each: its own generator + datasource, plus a link to the shared models).
 *
 * Generating needs no schema engine, but every Prisma CLI command first makes sure the native schema-engine binary is
 * present and otherwise downloads it, which fails here (the binary is not on npm and the download host is out of
 * reach). The CLI skips that step when PRISMA_SCHEMA_ENGINE_BINARY names an existing file, so we point it at a stub
 * that only explains itself: `generate` never runs it, and any command that did would fail with that explanation
 * instead of misbehaving.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const prismaCli = createRequire(import.meta.url).resolve('prisma/build/index.js');
const stubDir = mkdtempSync(path.join(os.tmpdir(), 'boxyard-prisma-'));
const stub = path.join(stubDir, 'schema-engine');
writeFileSync(
  stub,
  '#!/bin/sh\necho "The native Prisma schema engine is not installed: use npm run db:migration (prisma/create-migration.ts)." >&2\nexit 1\n',
);
chmodSync(stub, 0o755);

try {
  for (const provider of ['sqlite', 'postgres']) {
    execFileSync(process.execPath, [prismaCli, 'generate', '--schema', path.join(import.meta.dirname, provider)], {
      stdio: 'inherit',
      // No update check or telemetry: both would only wait on the network.
      env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: stub, CHECKPOINT_DISABLE: '1', PRISMA_HIDE_UPDATE_MESSAGE: '1' },
    });
  }
} finally {
  rmSync(stubDir, { recursive: true, force: true });
}

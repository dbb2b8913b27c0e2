#!/usr/bin/env node
/**
 * Builds the laptop CLI: cli/boxyard.ts and everything it imports, npm packages included, bundled into one ES module
 * that needs nothing but Node >= 20 (no node_modules), .next-server/cli/boxyard.mjs, with its SHA-256 beside it as a
 * `sha256sum` line (boxyard.mjs.sha256). The dashboard serves both (server/http/cli-download.ts). esbuild's output
 * is deterministic: the same sources give the same bytes and the same hash.
 *
 *   node scripts/build-cli.mjs [--out-dir DIR]    (default .next-server/cli; run by scripts/install.sh and npm run build)
 *
 * Plain JavaScript so that it runs without tsx.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { 'out-dir': { type: 'string', default: path.join(ROOT, '.next-server', 'cli') } } });
const outDir = path.resolve(values['out-dir']);
const FILE_NAME = 'boxyard.mjs';

const started = Date.now();
const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const result = await build({
  absWorkingDir: ROOT,
  entryPoints: ['cli/boxyard.ts'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  write: false,
  outfile: path.join(outDir, FILE_NAME),
  define: { BOXYARD_CLI_BUILD: JSON.stringify({ version }) },
  // CommonJS packages bundled into an ES module (ws) call require() for Node's own modules: give them one.
  banner: { js: "import { createRequire as __boxyardCreateRequire } from 'node:module'; const require = __boxyardCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
// The source's own first line runs it with tsx from a checkout; the bundle runs on plain node.
const code = `#!/usr/bin/env node\n${result.outputFiles[0].text.replace(/^#!.*\n/, '')}`;
const sha256 = createHash('sha256').update(code).digest('hex');

// Each file complete before it takes its name: a dashboard serving the folder never sends half a build.
mkdirSync(outDir, { recursive: true });
function writeAtomically(name, content, mode) {
  const temporary = path.join(outDir, `.${name}.${process.pid}`);
  writeFileSync(temporary, content, { mode });
  renameSync(temporary, path.join(outDir, name));
}
writeAtomically(FILE_NAME, code, 0o755);
writeAtomically(`${FILE_NAME}.sha256`, `${sha256}  ${FILE_NAME}\n`, 0o644);
console.log(`built ${path.relative(ROOT, path.join(outDir, FILE_NAME))} (${Math.round(code.length / 1024)} KiB, sha256 ${sha256}) in ${Date.now() - started} ms`);

#!/usr/bin/env node
/**
 * Builds the production server: server/main.ts and every file of this repository it imports (the generated Prisma
 * clients included: they are TypeScript) bundled into one ES module, .next-server/main.mjs, beside Next's .next/.
 * npm packages stay imports that node resolves from node_modules at run time (native addons such as ssh2's
 * cpu-features and better-sqlite3, Prisma's runtime and its query compiler, pg, next). Production then starts with
 * plain `node .next-server/main.mjs` instead of compiling TypeScript with tsx at every start.
 *
 *   node scripts/build-server.mjs            build
 *   node scripts/build-server.mjs --if-stale build only if a source file changed since the last build (start.sh)
 *
 * Plain JavaScript so that it runs without tsx.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = path.join(ROOT, '.next-server');
const OUT_FILE = path.join(OUT_DIR, 'main.mjs');
/** esbuild's list of the bundle's inputs, kept to decide cheaply whether the next start must rebuild. */
const META_FILE = path.join(OUT_DIR, 'meta.json');

/** True when the bundle is missing or older than this script or any of the files it was built from. */
function stale() {
  let built;
  let inputs;
  try {
    built = statSync(OUT_FILE).mtimeMs;
    inputs = Object.keys(JSON.parse(readFileSync(META_FILE, 'utf8')).inputs);
  } catch {
    return true;
  }
  // A deleted input also counts: the file importing it changed too, but say so rather than rely on that.
  const files = [fileURLToPath(import.meta.url), ...inputs.map((input) => path.join(ROOT, input))];
  return files.some((file) => {
    try {
      return statSync(file).mtimeMs > built;
    } catch {
      return true;
    }
  });
}

/**
 * Bundled, a file's `import.meta.url` would be the bundle's, and the paths the server finds from its own location
 * (prisma/migrations from server/db/migrate.ts, the compiled samplers from server/metrics/compiled-sampler.ts)
 * would point into .next-server/. So each file keeps its own: its source location, relative to the bundle, so the
 * checkout can still move after the build.
 */
function keepSourceUrl(source, file) {
  const other = /import\.meta\.(dirname|filename|resolve)\b/.exec(source);
  if (other) throw new Error(`${path.relative(ROOT, file)} uses ${other[0]}: use import.meta.url, which scripts/build-server.mjs keeps per file`);
  const fromBundle = path.relative(OUT_DIR, file).split(path.sep).join('/');
  return source.replaceAll('import.meta.url', `new URL(${JSON.stringify(fromBundle)}, import.meta.url).href`);
}

/**
 * A generated Prisma client imports its query compiler's wasm as a module whose one export is the whole binary in
 * base64 (`export { wasm }`, 4.4 MB). A loaded module is never unloaded: its source text and that string stayed on
 * the heap (8.8 MB) for the life of the process after their one use. Here the generated client reads the same file
 * instead, and both are garbage once the WebAssembly module is compiled.
 */
const WASM_IMPORT = /const \{ wasm \} = await import\("(@prisma\/client\/runtime\/[\w.-]+\.wasm-base64\.mjs)"\)/g;
function readWasmOnce(source, file) {
  if (!source.includes('.wasm-base64.mjs')) return source;
  let found = 0;
  const rewritten = source.replace(WASM_IMPORT, (_, specifier) => {
    found++;
    return `const wasm = await import("node:module").then(async ({ createRequire }) => {
    const text = await (await import("node:fs/promises")).readFile(createRequire(import.meta.url).resolve(${JSON.stringify(specifier)}), "utf8")
    return text.slice(text.indexOf('"') + 1, text.lastIndexOf('"'))
  })`;
  });
  if (found === 0) throw new Error(`${path.relative(ROOT, file)} loads a wasm-base64 module in a way scripts/build-server.mjs does not know (Prisma changed its generated client?)`);
  return rewritten;
}

const sourceTransforms = {
  name: 'source-transforms',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const transformed = keepSourceUrl(readWasmOnce(source, args.path), args.path);
      if (transformed === source) return undefined;
      return { contents: transformed, loader: path.extname(args.path).slice(1).replace(/^[cm]/, '') };
    });
  },
};

async function buildServer() {
  const started = Date.now();
  const { build } = await import('esbuild'); // only when building: the --if-stale check alone stays cheap
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: ['server/main.ts'],
    outfile: OUT_FILE,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Linked, not loaded: node reads it only with --enable-source-maps (e.g. NODE_OPTIONS), which then parses and keeps it.
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    plugins: [sourceTransforms],
  });
  const { writeFileSync } = await import('node:fs');
  writeFileSync(META_FILE, JSON.stringify({ inputs: result.metafile.inputs }));
  console.log(`built ${path.relative(ROOT, OUT_FILE)} from ${Object.keys(result.metafile.inputs).length} files in ${Date.now() - started} ms`);
}

if (!process.argv.includes('--if-stale') || stale()) await buildServer();

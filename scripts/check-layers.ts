/**
 * The layering of server/, checked from the imports (README "Architecture"). Run by its test in the suite, or by
 * hand: `npx tsx scripts/check-layers.ts` prints every violation.
 *
 * Rules, for production files (tests may import anything, test support included):
 * - a file imports only its own layer or lower ones;
 * - areas (server/<folder> or a top-level server/<file>.ts) never import each other in a circle;
 * - production code never imports test support (testing/, e2e/);
 * - browser code (app/, components/, lib/) imports only types from server/.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** Lowest first. An area not listed here is a violation: every new folder takes a place on purpose. */
export const layers: readonly (readonly string[])[] = [
  ['lib', 'server/errors.ts', 'server/log.ts', 'server/env.ts', 'server/abort.ts', 'server/crypto', 'server/db'],
  ['server/audit', 'server/cluster'],
  ['server/ssh'],
  ['server/boxes', 'server/hosts', 'server/hypervisors', 'server/auth', 'server/users', 'server/access-keys', 'server/settings', 'server/groups'],
  ['server/jobs'],
  ['server/connect', 'server/provision', 'server/mounts', 'server/vms', 'server/metrics', 'server/terminals', 'server/tunnels', 'server/previews'],
  ['server/services.ts'],
  ['server/trpc'],
  ['server/http', 'server/main.ts'],
];

const TEST_SUPPORT = ['testing', 'e2e'];
/** Packages only tests use: a production file importing one is test support living among code. */
const TEST_PACKAGES = ['vitest', '@playwright/test', 'fast-check'];
const BROWSER = ['app', 'components', 'lib'];
const SOURCE = /\.(ts|tsx)$/;

export interface Violation {
  file: string;
  imports: string;
  why: string;
}

/** `server/boxes/remote.ts` -> `server/boxes`; `server/main.ts` stays itself; `lib/x.ts` -> `lib`. */
export function areaOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'server') return parts.length === 2 ? file : `server/${parts[1]}`;
  return parts[0]!;
}

const rankOf = new Map(layers.flatMap((areas, rank) => areas.map((area) => [area, rank] as const)));

function isTest(file: string): boolean {
  return /\.test\.tsx?$/.test(file) || TEST_SUPPORT.includes(file.split('/')[0]!);
}

function listSources(root: string, dir: string): string[] {
  const entries = readdirSync(path.join(root, dir), { withFileTypes: true });
  return entries.flatMap((entry) => {
    const relative = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'generated' ? [] : listSources(root, relative);
    return SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts') ? [relative] : [];
  });
}

interface Import {
  /** A repository path (`server/ssh/pool.ts`), or a package name for a bare specifier. */
  target: string;
  typeOnly: boolean;
  isPackage: boolean;
}

/** `server/ssh/pool` -> `server/ssh/pool.ts` (or .tsx, or its index file), as TypeScript resolves it. */
function resolveFile(root: string, target: string): string {
  const candidates = [target, `${target}.ts`, `${target}.tsx`, `${target}/index.ts`];
  return candidates.find((candidate) => SOURCE.test(candidate) && existsSync(path.join(root, candidate))) ?? target;
}

/** Relative imports, re-exports and dynamic imports of `file`, resolved to repository paths. */
function importsOf(root: string, file: string): Import[] {
  const source = ts.createSourceFile(file, readFileSync(path.join(root, file), 'utf8'), ts.ScriptTarget.Latest, false);
  const found: Import[] = [];
  const add = (specifier: ts.Expression | undefined, typeOnly: boolean) => {
    if (!specifier || !ts.isStringLiteral(specifier)) return;
    if (!specifier.text.startsWith('.')) {
      found.push({ target: specifier.text, typeOnly, isPackage: true });
      return;
    }
    const target = resolveFile(root, path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier.text)));
    found.push({ target, typeOnly, isPackage: false });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const onlyTypeNames = !!clause?.namedBindings && ts.isNamedImports(clause.namedBindings) && !clause.name && clause.namedBindings.elements.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier, !!clause?.isTypeOnly || onlyTypeNames);
    } else if (ts.isExportDeclaration(node)) add(node.moduleSpecifier, node.isTypeOnly);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0], false);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

export function checkLayers(root: string): Violation[] {
  const files = ['server', ...BROWSER].filter((dir) => existsSync(path.join(root, dir))).flatMap((dir) => listSources(root, dir)).filter((file) => !isTest(file));
  const violations: Violation[] = [];
  const areaEdges = new Map<string, Map<string, string>>(); // area -> imported area -> one file that does it

  for (const file of files) {
    const area = areaOf(file);
    const rank = rankOf.get(area);
    if (rank === undefined && !BROWSER.includes(area)) violations.push({ file, imports: '', why: `${area} has no layer in scripts/check-layers.ts` });
    for (const { target, typeOnly, isPackage } of importsOf(root, file)) {
      if (isPackage) {
        if (TEST_PACKAGES.includes(target)) violations.push({ file, imports: target, why: 'production code imports a test-only package' });
        continue;
      }
      const targetArea = areaOf(target);
      if (TEST_SUPPORT.includes(target.split('/')[0]!)) {
        violations.push({ file, imports: target, why: 'production code imports test support' });
        continue;
      }
      if (BROWSER.includes(area) && area !== 'lib' && targetArea.startsWith('server')) {
        if (!typeOnly) violations.push({ file, imports: target, why: 'browser code may import only types from server/' });
        continue;
      }
      if (targetArea === area) continue;
      const targetRank = rankOf.get(targetArea);
      if (rank !== undefined && targetRank !== undefined && targetRank > rank) {
        violations.push({ file, imports: target, why: `${area} (layer ${rank}) imports upward into ${targetArea} (layer ${targetRank})` });
      }
      if (!areaEdges.has(area)) areaEdges.set(area, new Map());
      if (!areaEdges.get(area)!.has(targetArea)) areaEdges.get(area)!.set(targetArea, file);
    }
  }
  for (const cycle of areaCycles(areaEdges)) {
    const steps = cycle.map((area, i) => `${area} -> ${cycle[(i + 1) % cycle.length]} (${areaEdges.get(area)!.get(cycle[(i + 1) % cycle.length]!)})`);
    violations.push({ file: areaEdges.get(cycle[0]!)!.get(cycle[1 % cycle.length]!)!, imports: cycle[1 % cycle.length]!, why: `areas import each other in a circle: ${steps.join(', ')}` });
  }
  return violations;
}

/** One cycle per strongly connected group of areas (Tarjan), as the areas in the order they import each other. */
function areaCycles(edges: Map<string, Map<string, string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  let next = 0;
  const connect = (area: string) => {
    index.set(area, next);
    low.set(area, next++);
    stack.push(area);
    onStack.add(area);
    for (const target of edges.get(area)?.keys() ?? []) {
      if (!index.has(target)) {
        connect(target);
        low.set(area, Math.min(low.get(area)!, low.get(target)!));
      } else if (onStack.has(target)) low.set(area, Math.min(low.get(area)!, index.get(target)!));
    }
    if (low.get(area) !== index.get(area)) return;
    const group: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      group.push(member);
    } while (member !== area);
    if (group.length > 1) groups.push(group);
  };
  for (const area of edges.keys()) if (!index.has(area)) connect(area);
  return groups.map((group) => orderAsCycle(group, edges));
}

/** Walks a strongly connected group from its first member until it returns, so the message reads as a circle. */
function orderAsCycle(group: string[], edges: Map<string, Map<string, string>>): string[] {
  const members = new Set(group);
  const start = group[0]!;
  const walk = (path: string[]): string[] | null => {
    for (const target of edges.get(path.at(-1)!)?.keys() ?? []) {
      if (target === start) return path;
      if (members.has(target) && !path.includes(target)) {
        const found = walk([...path, target]);
        if (found) return found;
      }
    }
    return null;
  };
  return walk([start]) ?? group;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const violations = checkLayers(path.resolve(import.meta.dirname, '..'));
  for (const v of violations) console.log(`${v.file}${v.imports ? ` -> ${v.imports}` : ''}: ${v.why}`);
  console.log(violations.length ? `\n${violations.length} layering violation(s)` : 'layers: no violations');
  process.exit(violations.length ? 1 : 0);
}

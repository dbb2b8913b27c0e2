import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkLayers } from './check-layers';

describe('layering of server/', () => {
  it('has no upward import, no circle between areas, no test support in production code', () => {
    expect(checkLayers(path.resolve(import.meta.dirname, '..'))).toEqual([]);
  });

  describe('the checker itself, on a small tree', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'boxyard-layers-'));
    afterAll(() => rmSync(root, { recursive: true, force: true }));
    const write = (file: string, text: string) => {
      mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
      writeFileSync(path.join(root, file), text);
    };
    write('server/ssh/pool.ts', "import { run } from '../jobs/runner';\nexport const pool = run;\n");
    write('server/jobs/runner.ts', "import { pool } from '../ssh/pool';\nexport const run = pool;\n");
    write('server/boxes/boxes.ts', "import { vi } from 'vitest';\nimport { lab } from '../../testing/lab/lab';\nexport const boxes = [vi, lab];\n");
    write('server/boxes/boxes.test.ts', "import { startServices } from '../services';\nexport const x = startServices;\n");
    write('server/services.ts', 'export const startServices = 1;\n');
    write('components/box.tsx', "import type { Box } from '../server/boxes/boxes';\nimport { pool } from '../server/ssh/pool';\nexport const b: Box | typeof pool = 1;\n");
    write('server/newarea/thing.ts', 'export const thing = 1;\n');
    const found = checkLayers(root).map((v) => `${v.file} -> ${v.imports}: ${v.why}`);

    it('reports an upward import and the circle it closes', () => {
      expect(found).toContain('server/ssh/pool.ts -> server/jobs/runner.ts: server/ssh (layer 2) imports upward into server/jobs (layer 4)');
      expect(found.some((line) => line.includes('areas import each other in a circle: server/ssh -> server/jobs'))).toBe(true);
    });

    it('reports test support and test-only packages in production code, not in tests', () => {
      expect(found).toContain('server/boxes/boxes.ts -> testing/lab/lab: production code imports test support');
      expect(found).toContain('server/boxes/boxes.ts -> vitest: production code imports a test-only package');
      expect(found.filter((line) => line.startsWith('server/boxes/boxes.test.ts'))).toEqual([]);
    });

    it('lets browser code import types from server/, nothing else', () => {
      expect(found).toContain('components/box.tsx -> server/ssh/pool.ts: browser code may import only types from server/');
      expect(found.filter((line) => line.includes('server/boxes/boxes.ts: browser'))).toEqual([]);
    });

    it('asks every new area to take a place in the layers', () => {
      expect(found).toContain('server/newarea/thing.ts -> : server/newarea has no layer in scripts/check-layers.ts');
    });
  });
});

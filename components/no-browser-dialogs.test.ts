import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The dashboard confirms in its own dialog (components/confirm-dialog.tsx) and reports outcomes in toasts: the
 * browser's blocking window.confirm, window.prompt and alert() name nothing, cannot be styled or tested, and some
 * browsers suppress them. This reads every page and component and fails on any call left or added.
 */
const ROOT = join(import.meta.dirname, '..');
const FOLDERS = ['app', 'components'];
const FORBIDDEN = /\bwindow\.confirm\b|\bwindow\.prompt\b|(?<![\w.])alert\(|\bwindow\.alert\b/;

async function sourceFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && /\.(tsx?|jsx?)$/.test(entry.name) && !entry.name.endsWith('.test.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

describe('browser dialogs', () => {
  it('no page or component calls window.confirm, window.prompt or alert()', async () => {
    const files = (await Promise.all(FOLDERS.map((folder) => sourceFiles(join(ROOT, folder))))).flat();
    expect(files.length).toBeGreaterThan(20);
    const offenders: string[] = [];
    for (const file of files) {
      const lines = (await readFile(file, 'utf8')).split('\n');
      lines.forEach((line, index) => {
        if (FORBIDDEN.test(line)) offenders.push(`${relative(ROOT, file)}:${index + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });

  it('the check itself finds each of them', () => {
    for (const call of ['window.confirm("x")', 'window.prompt("x")', 'alert("x")', 'window.alert("x")']) expect(FORBIDDEN.test(call)).toBe(true);
    for (const fine of ['role="alert"', 'toast.error(x)', 'AlertDialog.Root', 'getByRole("alert")']) expect(FORBIDDEN.test(fine)).toBe(false);
  });
});

// Every list of values in lib/ (each exported array of strings: statuses, kinds, modes) has a word for each value in
// lib/words.ts, found by importing every module of lib/, so a value added to a list later fails here until it is
// worded. The server's lists that pages show are checked the same way.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { roles } from '../server/auth/auth';
import { vmStates } from '../server/hypervisors/driver';
import { mountApplyRecipe } from '../server/mounts/apply-recipe';
import { measureRecipe } from '../server/mounts/measure';
import { dockerRecipe } from '../server/provision/docker-recipe';
import { vmRecipes } from '../server/vms/recipes';
import { word, words, type WordGroup } from './words';

const libDir = fileURLToPath(new URL('.', import.meta.url));

async function libStringLists(): Promise<[string, readonly string[]][]> {
  const files = readdirSync(libDir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'words.ts');
  const lists: [string, readonly string[]][] = [];
  for (const file of files) {
    const exports = (await import(/* @vite-ignore */ `./${file}`)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(exports)) {
      if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string')) lists.push([`${file}: ${name}`, value]);
    }
  }
  return lists;
}

const unworded = (group: WordGroup, values: readonly string[]) => values.filter((v) => !(v in words[group]));

describe('lib/words', () => {
  it('words every value of every list in lib/ (a subset list, such as activeJobStatuses, in the group of its whole list)', async () => {
    const lists = await libStringLists();
    expect(lists.map(([name]) => name)).toContain('validation.ts: boxStatuses');
    const missing = lists.flatMap(([name, values]) => {
      const exportName = name.split(': ')[1] as WordGroup;
      const group = exportName in words ? exportName : (Object.keys(words) as WordGroup[]).find((g) => unworded(g, values).length === 0);
      return group ? unworded(group, values).map((v) => `${name}: ${v}`) : [`${name}: no group in words.ts holds all of ${values.join(', ')}`];
    });
    expect(missing).toEqual([]);
  });

  it('words the server lists the pages show: VM states, roles, and the kind of every job recipe', () => {
    expect(unworded('vmStates', vmStates)).toEqual([]);
    expect(unworded('roles', roles)).toEqual([]);
    const kinds = [dockerRecipe, ...vmRecipes, mountApplyRecipe, measureRecipe].map((recipe) => recipe.kind);
    expect(unworded('jobKinds', kinds)).toEqual([]);
  });

  it('says "host key changed" and "Parallels Desktop", and shows an unknown value as it is', () => {
    expect(word('boxStatuses', 'host-key-mismatch')).toBe('host key changed');
    expect(word('hypervisorKinds', 'parallels')).toBe('Parallels Desktop');
    expect(word('jobKinds', 'something-new')).toBe('something-new');
  });
});

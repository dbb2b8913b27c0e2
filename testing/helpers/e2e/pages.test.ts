// The narrow-window and screenshot test (e2e/narrow.spec.ts) visits the pages in dashboardPages: this keeps that
// list equal to the pages app/ has, so a page added later is checked at 390 px too.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { appRoutes, dashboardPages } from './pages';

describe('dashboardPages', () => {
  it('lists every page of app/ and nothing else', () => {
    const routes = appRoutes(fileURLToPath(new URL('../../../app', import.meta.url)));
    expect(routes).toContain('/boxes/[id]');
    expect(Object.keys(dashboardPages).sort()).toEqual(routes);
  });
});

import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/** The records a page's address names. */
export interface PageIds {
  box: string;
  host: string;
  job: string;
}

/**
 * Every page of app/, by its route (route groups left out), and the address that shows it with real records. The
 * narrow-window test visits each; pages.test.ts checks this list against the app/ tree, so a new page is not missed.
 * "/404" is the not-found page (app/not-found.tsx), at an address no page has.
 */
export const dashboardPages: Record<string, (ids: PageIds) => string> = {
  '/': () => '/',
  '/login': () => '/login',
  '/boxes/new': () => '/boxes/new',
  '/boxes/[id]': ({ box }) => `/boxes/${box}`,
  '/boxes/[id]/terminal': ({ box }) => `/boxes/${box}/terminal`,
  '/hosts': () => '/hosts',
  '/hosts/new': () => '/hosts/new',
  '/hosts/[id]': ({ host }) => `/hosts/${host}`,
  '/jobs': () => '/jobs',
  '/jobs/[id]': ({ job }) => `/jobs/${job}`,
  '/groups': () => '/groups',
  '/password': () => '/password',
  '/users': () => '/users',
  '/audit': () => '/audit',
  '/sessions': () => '/sessions',
  '/profile': () => '/profile',
  '/device': () => '/device',
  '/404': () => '/no-such-page',
};

/** The routes of the page files under `appDir` ("(dashboard)/boxes/[id]/page.tsx" is "/boxes/[id]"), and /404 for not-found.tsx. */
export function appRoutes(appDir: string): string[] {
  const routes: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name === 'page.tsx') {
        const segments = relative(appDir, dir).split(sep).filter((s) => s && !/^\(.*\)$/.test(s));
        routes.push(`/${segments.join('/')}`);
      } else if (entry.name === 'not-found.tsx' && dir === appDir) routes.push('/404');
    }
  };
  walk(appDir);
  return routes.sort();
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { fromNodeHeaders } from 'better-auth/node';
import { PREVIEW_COOKIE, PREVIEW_OPEN_PATH, PREVIEW_REDEEM_PATH, parsePreviewHost, parsePreviewPath, previewHostname, previewPathPrefix, type PreviewTarget } from '../../lib/preview';
import { boxName } from '../../lib/validation';
import type { Auth } from '../auth/auth';
import { sessionUserOf } from '../boxes/access';
import type { Db } from '../db/client';
import { isAppError } from '../errors';
import { checkGrant, publicSharingAllowed } from '../previews/access';
import { malformedHostPage, malformedPathPage, notFoundPage, sendPreviewPage, signInPage } from '../previews/pages';
import type { PreviewBox, PreviewService } from '../previews/service';
import { issueCode, PREVIEW_COOKIE_TTL_MS, redeemCode, type PreviewGrant } from '../previews/tickets';
import type { ClientAddress } from './client-address';
import { refuseUpgrade } from './responses';

export interface PreviewRouteDeps {
  db: Db;
  auth: Auth;
  previews: PreviewService;
  clientAddress: ClientAddress;
  /** BOXYARD_URL: the dashboard the exchange starts on. */
  publicUrl: string;
  /** BOXYARD_PREVIEW_DOMAIN; none: the path form. */
  previewDomain: string | undefined;
}

/**
 * The CSP of the path form, which shares the dashboard's origin: `sandbox` without allow-same-origin runs the app in
 * an opaque origin, so its scripts cannot read the dashboard's storage or call the dashboard as the viewer. It also
 * means: no document.cookie or localStorage, no service workers, and the app's fetches to itself are cross-origin.
 */
export const PATH_FORM_CSP = 'sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads';

/**
 * The path form's other headers: its credential is in the URL (the `~key` segment), so the URL is not given away in
 * a Referer, whatever the app asks for.
 */
const PATH_FORM_HEADERS = { 'content-security-policy': PATH_FORM_CSP, 'referrer-policy': 'no-referrer' };

const BOX_NAME_CACHE_MS = 1_000;

/** Where a request is bound: a box's port in one of the two forms. */
interface Located {
  target: PreviewTarget;
  /** The path form's `/preview/box/port[/~key]`; undefined on a preview origin. */
  prefix: string | undefined;
  /** The path form's key (the sealed grant), if the URL has one. */
  key: string | null;
  /** The path and query inside the preview. */
  path: string;
}

/**
 * The previews' side of the edge (server/http/edge.ts calls it before its route tables): a request on a preview
 * origin (`3000--web-dev.<BOXYARD_PREVIEW_DOMAIN>`) or under `/preview/<box>/<port>/` never reaches a dashboard
 * route or page, gets none of the dashboard's security headers (the app's own pass), and is not held to the
 * dashboard's Origin rule: it carries no dashboard credential to forge (the dashboard's cookies and tokens are
 * removed before the app sees the request), and the preview cookie only opens the app.
 *
 * The exchange: GET PREVIEW_OPEN_PATH on the dashboard (signed in, or with a public link) checks access and redirects
 * with a one-time code to PREVIEW_REDEEM_PATH on the preview, which redeems it and sets the preview's own cookie.
 */
export function createPreviewRoutes(deps: PreviewRouteDeps) {
  const { cookies } = deps.previews;
  const dashboard = new URL(deps.publicUrl);
  const secure = dashboard.protocol === 'https:';

  const locate = (req: IncomingMessage, url: URL): Located | 'malformed-host' | 'malformed-path' | null => {
    if (deps.previewDomain) {
      const byHost = parsePreviewHost(req.headers.host ?? '', deps.previewDomain);
      if (byHost === 'malformed') return 'malformed-host';
      if (byHost) return { target: byHost, prefix: undefined, key: null, path: url.pathname + url.search };
    }
    const byPath = parsePreviewPath(url.pathname);
    if (byPath === 'malformed') return 'malformed-path';
    if (byPath) return { target: byPath, prefix: byPath.prefix, key: byPath.key, path: byPath.rest + url.search };
    return null;
  };

  /**
   * A box by name, remembered for a second: every request of a page and its assets names it, and a database query
   * each is most of the proxy's added latency. Whether the viewer may reach it is checked apart (the grant's check),
   * so a deleted box still refuses within that second and the AccessWatch's round.
   */
  const boxesByName = new Map<string, { row: { id: string; name: string } | null; at: number }>();
  const findBox = async (target: PreviewTarget): Promise<PreviewBox | null> => {
    const cached = boxesByName.get(target.box);
    let row = cached && Date.now() - cached.at < BOX_NAME_CACHE_MS ? cached.row : undefined;
    if (row === undefined) {
      row = await deps.db.box.findUnique({ where: { name: target.box }, select: { id: true, name: true } });
      if (boxesByName.size > 10_000) boxesByName.clear();
      boxesByName.set(target.box, { row, at: Date.now() });
    }
    return row ? { ...row, port: target.port } : null;
  };

  /** The dashboard URL that (re)starts the exchange for this preview and path, back to the form it came from. */
  const openUrl = (located: Located) =>
    `${dashboard.origin}${PREVIEW_OPEN_PATH}?${new URLSearchParams({ box: located.target.box, port: String(located.target.port), path: located.path, ...(located.prefix !== undefined && deps.previewDomain ? { form: 'path' } : {}) })}`;

  /** Where a preview is opened: on its own origin where a wildcard domain is set, unless the path form is asked for. */
  const previewBase = (target: PreviewTarget, form: 'path' | 'subdomain') =>
    deps.previewDomain && form === 'subdomain' ? `${dashboard.protocol}//${previewHostname(target, deps.previewDomain)}${dashboard.port ? `:${dashboard.port}` : ''}` : `${dashboard.origin}${previewPathPrefix(target)}`;

  /**
   * The preview's credential: the cookie on a preview origin; in the path form the key in the URL, because Chromium
   * sends no cookie at all with the requests of a sandboxed (opaque-origin) page, not even a SameSite=None one, so a
   * cookie would carry only the first page and none of its scripts, images, fetches or WebSockets.
   */
  const grantOf = (req: IncomingMessage, located: Located, box: PreviewBox): PreviewGrant | null => {
    const value = located.prefix === undefined ? cookieValue(req.headers.cookie, PREVIEW_COOKIE) : located.key;
    const grant = value ? cookies.open(value) : null;
    return grant && grant.boxId === box.id && grant.port === box.port ? grant : null;
  };

  /** Answers a request the grant does not cover: GETs go back through the dashboard's exchange, others are refused. */
  const reauthenticate = (req: IncomingMessage, res: ServerResponse, located: Located) => {
    if (req.method === 'GET') res.writeHead(302, { location: openUrl(located), 'cache-control': 'no-store' }).end();
    else sendPreviewPage(res, signInPage(dashboard.origin));
  };

  const redeem = async (res: ServerResponse, url: URL, located: Located, box: PreviewBox) => {
    const grant = await redeemCode(deps.db, url.searchParams.get('code') ?? '', { boxId: box.id, port: box.port });
    if (!grant) return sendPreviewPage(res, signInPage(dashboard.origin));
    const user = grant.userId ? await deps.db.user.findUnique({ where: { id: grant.userId } }) : null;
    await deps.previews.audited(user ? sessionUserOf(user) : null, box, { form: located.prefix ? 'path' : 'subdomain', via: grant.shareId ? 'public link' : 'session' });
    const nextParam = url.searchParams.get('next') ?? '/';
    const next = nextParam.startsWith('/') && !nextParam.startsWith('//') ? nextParam : '/';
    if (located.prefix !== undefined) {
      res.writeHead(302, { location: `${previewPathPrefix(located.target)}/~${cookies.seal(grant)}${next}`, 'cache-control': 'no-store', ...PATH_FORM_HEADERS }).end();
      return;
    }
    const attributes = ['HttpOnly', `Max-Age=${PREVIEW_COOKIE_TTL_MS / 1000}`, 'Path=/', 'SameSite=Lax', ...(secure ? ['Secure'] : [])];
    res.writeHead(302, { 'set-cookie': [`${PREVIEW_COOKIE}=${cookies.seal(grant)}`, ...attributes].join('; '), location: next, 'cache-control': 'no-store' });
    res.end();
  };

  /** The grant of a request, checked now; null after answering it (not found, or sent back to sign in). */
  const admitted = async (req: IncomingMessage, located: Located, box: PreviewBox | null, refuse: { notFound: () => void; reauthenticate: () => void }) => {
    if (!box) return void refuse.notFound();
    const grant = grantOf(req, located, box);
    if (!grant) return void refuse.reauthenticate();
    try {
      await deps.previews.check(grant);
      return grant;
    } catch (error) {
      if (isAppError(error, 'UNAUTHENTICATED')) refuse.reauthenticate();
      else if (isAppError(error, 'NOT_FOUND') || isAppError(error, 'FORBIDDEN')) refuse.notFound();
      else throw error;
      return null;
    }
  };

  const forwarding = (req: IncomingMessage, located: Located) => ({
    clientAddress: deps.clientAddress(req),
    proto: dashboard.protocol.replace(':', ''),
    host: req.headers.host ?? '',
    prefix: located.prefix,
    cookiePath: located.prefix === undefined ? undefined : previewPathPrefix(located.target),
  });

  return {
    /** True when `req` is a preview's and was taken (answered here). */
    handleRequest(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
      const located = locate(req, url);
      if (!located) return false;
      void (async () => {
        if (located === 'malformed-host') return sendPreviewPage(res, malformedHostPage(deps.previewDomain!));
        if (located === 'malformed-path') return sendPreviewPage(res, malformedPathPage);
        const box = await findBox(located.target);
        if (box && !located.key && url.pathname === (located.prefix ?? '') + PREVIEW_REDEEM_PATH) return redeem(res, url, located, box);
        const grant = await admitted(req, located, box, { notFound: () => sendPreviewPage(res, notFoundPage), reauthenticate: () => reauthenticate(req, res, located) });
        if (!grant || !box) return;
        await deps.previews.proxyRequest(
          { grant, box, path: located.path, forwarding: forwarding(req, located), responseHeaders: located.prefix ? PATH_FORM_HEADERS : undefined },
          req,
          res,
        );
      })().catch((error: unknown) => {
        if (!res.headersSent) sendPreviewPage(res, { status: 500, title: 'The preview failed', sentence: 'The dashboard could not serve this preview; try again.' });
        else res.destroy();
        void error;
      });
      return true;
    },

    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): boolean {
      const located = locate(req, url);
      if (!located) return false;
      void (async () => {
        if (located === 'malformed-host' || located === 'malformed-path') return refuseUpgrade(socket, 400, 'Bad Request', 'Not a preview address.');
        const box = await findBox(located.target);
        const grant = await admitted(req, located, box, {
          notFound: () => refuseUpgrade(socket, 404, 'Not Found', notFoundPage.sentence),
          reauthenticate: () => refuseUpgrade(socket, 401, 'Unauthorized', 'Open this preview from the dashboard again.'),
        });
        if (!grant || !box) return;
        await deps.previews.proxyUpgrade({ grant, box, path: located.path, forwarding: forwarding(req, located) }, req, socket, head);
      })().catch(() => socket.destroy());
      return true;
    },

    /**
     * GET PREVIEW_OPEN_PATH?box=&port=&path=[&link=][&form=path] on the dashboard: checks access, then redirects with
     * a code. `form=path` keeps a viewer who came by a /preview/ URL on the path form where a wildcard domain is set.
     */
    async open(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
      const name = boxName.safeParse(url.searchParams.get('box') ?? '');
      const portText = url.searchParams.get('port') ?? '';
      const port = /^[1-9]\d{0,4}$/.test(portText) && Number(portText) <= 65535 ? Number(portText) : null;
      if (!name.success || port === null) return sendPreviewPage(res, { status: 400, title: 'Not a preview', sentence: 'Name a box and a port from 1 to 65535, such as ?box=web-dev&port=3000.' });
      const pathParam = url.searchParams.get('path') ?? '/';
      const path = pathParam.startsWith('/') && !pathParam.startsWith('//') && pathParam.length <= 4096 ? pathParam : '/';
      const target = { box: name.data, port };
      const box = await findBox(target);
      if (!box) return sendPreviewPage(res, notFoundPage);
      let grant: PreviewGrant;
      const link = url.searchParams.get('link');
      if (link) {
        const shareId = cookies.shareOfLink(link);
        const share = shareId ? await deps.db.portShare.findUnique({ where: { id: shareId } }) : null;
        if (!share || share.boxId !== box.id || share.port !== port || share.level !== 'public' || !(await publicSharingAllowed(deps.db))) return sendPreviewPage(res, notFoundPage);
        grant = { userId: null, sessionId: null, shareId: share.id, boxId: box.id, port };
      } else {
        const session = await deps.auth.api.getSession({ headers: fromNodeHeaders(req.headers) });
        if (!session) {
          res.writeHead(302, { location: `/login?${new URLSearchParams({ next: url.pathname + url.search })}`, 'cache-control': 'no-store' }).end();
          return;
        }
        grant = { userId: session.user.id, sessionId: session.session.id, shareId: null, boxId: box.id, port };
        try {
          await checkGrant(deps.db, grant);
        } catch {
          return sendPreviewPage(res, notFoundPage);
        }
      }
      const code = await issueCode(deps.db, grant);
      res.writeHead(302, { location: `${previewBase(target, url.searchParams.get('form') === 'path' ? 'path' : 'subdomain')}${PREVIEW_REDEEM_PATH}?${new URLSearchParams({ code, next: path })}`, 'cache-control': 'no-store' }).end();
    },

  };
}

export type PreviewRoutes = ReturnType<typeof createPreviewRoutes>;

function cookieValue(header: string | undefined, name: string): string | null {
  for (const pair of (header ?? '').split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return null;
}

import { connectParams } from '../../lib/terminal-protocol';

/**
 * Terminal URLs. Session ids live in page URLs so a reload re-attaches:
 *   box page     /boxes/<box>?t=<session>[:<container>],<session>…   (one entry per open tab, in tab order)
 *   full screen  /boxes/<box>/terminal?session=<session>[&container=<container>]
 * Container names cannot hold ':' or ',' (see connectParams), so the `t` list needs no escaping.
 */

export type TerminalTab = { session: string; container?: string };

export function isSessionId(value: string): boolean {
  return connectParams.shape.session.safeParse(value).success;
}

export function isContainerName(value: string): boolean {
  return connectParams.shape.container.safeParse(value).success;
}

/** Reads `?t=`; entries that are not a session id (and valid container) are dropped, as are repeats. */
export function parseTabs(value: string | null): TerminalTab[] {
  const tabs: TerminalTab[] = [];
  for (const entry of value?.split(',') ?? []) {
    const [session = '', container, ...rest] = entry.split(':');
    if (rest.length || !isSessionId(session) || (container !== undefined && !isContainerName(container))) continue;
    if (tabs.some((t) => t.session === session)) continue;
    tabs.push(container ? { session, container } : { session });
  }
  return tabs;
}

export function formatTabs(tabs: TerminalTab[]): string {
  return tabs.map((t) => (t.container ? `${t.session}:${t.container}` : t.session)).join(',');
}

export function boxPageHref(boxId: string, tabs: TerminalTab[] = []): string {
  const path = `/boxes/${encodeURIComponent(boxId)}`;
  return tabs.length ? `${path}?t=${formatTabs(tabs)}` : path;
}

export function terminalPageHref(boxId: string, tab: TerminalTab): string {
  const container = tab.container ? `&container=${tab.container}` : '';
  return `/boxes/${encodeURIComponent(boxId)}/terminal?session=${tab.session}${container}`;
}

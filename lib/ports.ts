/**
 * A box's listening TCP ports as the dashboard, the browser and the CLI share them (server/metrics/ports.ts makes
 * them from the sampler's P lines; the Ports card, `boxyard ls --ports` and `boxyard forward --auto` read them).
 */

/** Where a port listens: every interface, the box's loopback only, or these addresses (IPv4 and IPv6 merged). */
export type PortAddress = { kind: 'all' } | { kind: 'loopback' } | { kind: 'addresses'; addresses: string[] };

/** What listens: a container (from Docker's published ports), a process the SSH user may see, or not known. */
export type PortOwner =
  | { kind: 'container'; container: string; containerPort: number }
  | { kind: 'process'; command: string; pid: number }
  | { kind: 'unknown' };

export interface ListeningPort {
  port: number;
  address: PortAddress;
  owner: PortOwner;
}

/**
 * A box's ports as the dashboard knows them now. `ports` is null while the box's sampler has not reported them
 * (a box never reached, or its stream is down): not known, which is not "none".
 */
export interface BoxPorts {
  ports: ListeningPort[] | null;
  /** Dashboard time (ms) of the report the list comes from; null with no list. */
  since: number | null;
}

export function portAddressText(address: PortAddress): string {
  if (address.kind === 'all') return 'all interfaces';
  if (address.kind === 'loopback') return 'loopback only';
  return address.addresses.join(', ');
}

export function portOwnerText(owner: PortOwner): string {
  if (owner.kind === 'container') return `container ${owner.container} (port ${owner.containerPort})`;
  if (owner.kind === 'process') return `${owner.command} (pid ${owner.pid})`;
  return 'unknown';
}

/** The CLI line that forwards the port to the laptop (shown with a copy button on the box page). */
export function forwardCommandLine(boxName: string, port: number): string {
  return `boxyard forward ${boxName} ${port}`;
}

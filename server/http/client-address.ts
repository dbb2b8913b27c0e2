import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Network } from '../env';

/**
 * The client's address, the one answer every user of an address asks for (sign-in limits, sessions, the audit's
 * addresses of CLI logins and tunnels). It is the socket's peer, unless that peer is a proxy the admin listed in
 * BOXYARD_TRUSTED_PROXIES: then X-Forwarded-For is read from the right, skipping the trusted hops, and the first
 * address a trusted hop did not vouch for is the client. Anything to its left was written by the client and is never
 * read, so a client that sends the header itself changes nothing; a malformed entry stops the walk at the last
 * trusted hop.
 */
export type ClientAddress = (req: IncomingMessage) => string;

/** What a socket without a peer address (already closed) counts as: one shared, never-trusted bucket. */
const UNKNOWN_ADDRESS = 'unknown';

export function createClientAddress(trustedProxies: readonly Network[]): ClientAddress {
  const trusted = new BlockList();
  for (const network of trustedProxies) trusted.addSubnet(network.address, network.prefix, network.family);
  const isTrusted = (address: string) => isIP(address) !== 0 && trusted.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6');

  return (req) => {
    let client = normalizeAddress(req.socket.remoteAddress ?? '') ?? UNKNOWN_ADDRESS;
    if (trustedProxies.length === 0 || !isTrusted(client)) return client;
    const forwarded = headerValues(req.headers['x-forwarded-for']);
    for (let i = forwarded.length - 1; i >= 0; i--) {
      const hop = normalizeAddress(forwarded[i]!);
      if (!hop) break;
      client = hop;
      if (!isTrusted(hop)) break;
    }
    return client;
  };
}

/** Every comma-separated entry of a header that may be sent several times, in order. */
function headerValues(header: string | string[] | undefined): string[] {
  const lines = Array.isArray(header) ? header : header === undefined ? [] : [header];
  return lines.flatMap((line) => line.split(',')).map((entry) => entry.trim());
}

/** An IP address in one spelling (IPv4-mapped IPv6 as IPv4, IPv6 lower-case); null when it is not one. */
export function normalizeAddress(value: string): string | null {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(value);
  const address = mapped ? mapped[1]! : value;
  if (isIP(address) === 0) return null;
  return address.toLowerCase();
}

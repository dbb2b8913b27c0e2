// createClientAddress on requests as node:http hands them over: the socket's peer, and X-Forwarded-For only from a
// listed proxy, read from the right.
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { parseNetwork, type Network } from '../env';
import { createClientAddress } from './client-address';

const networks = (...entries: string[]): Network[] => entries.map((entry) => parseNetwork(entry)!);
const req = (remoteAddress: string | undefined, forwarded?: string | string[]) =>
  ({ socket: { remoteAddress }, headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded } }) as unknown as IncomingMessage;

describe('the client address', () => {
  it('is the socket\'s peer when no proxy is listed, whatever the client forwards', () => {
    const address = createClientAddress([]);
    expect(address(req('::ffff:192.0.2.7', '10.0.0.1'))).toBe('192.0.2.7');
    expect(address(req('2001:DB8::1'))).toBe('2001:db8::1');
    expect(address(req(undefined))).toBe('unknown');
  });

  it('is the right-most address no listed proxy vouches for, behind a listed proxy', () => {
    const address = createClientAddress(networks('192.0.2.10', '10.0.0.0/8', 'fd00::/8'));
    expect(address(req('192.0.2.10', '203.0.113.1, 198.51.100.2, 10.1.2.3'))).toBe('198.51.100.2');
    expect(address(req('::ffff:192.0.2.10', ['203.0.113.1', '198.51.100.3'])), 'a header sent twice reads as one list').toBe('198.51.100.3');
    expect(address(req('fd00::1', '2001:db8::5'))).toBe('2001:db8::5');
    expect(address(req('192.0.2.10')), 'no header: the proxy itself').toBe('192.0.2.10');
    expect(address(req('192.0.2.10', 'garbage, 10.1.2.3')), 'a malformed hop stops at the last trusted one').toBe('10.1.2.3');
    expect(address(req('192.0.2.10', '10.1.2.3, 10.4.5.6')), 'all proxies: the farthest one').toBe('10.1.2.3');
    expect(address(req('192.0.2.11', '198.51.100.9')), 'not a listed proxy').toBe('192.0.2.11');
  });
});

import { describe, expect, it } from 'vitest';
import { listeningFromWords, SampleStreamParser } from './parse';
import { DOCKER_SECTION, listeningProcesses, ownersFrom, publishedPorts, SS_SECTION } from './ports';

describe('the P line', () => {
  it('merges IPv4 and IPv6 per port: any wildcard is all interfaces, only loopbacks is loopback only, else the addresses', () => {
    const words = [
      '00000000:22', // 0.0.0.0:22
      '00000000000000000000000000000000:22', // [::]:22
      '0100007F:5432', // 127.0.0.1:5432
      '00000000000000000000000001000000:5432', // [::1]:5432
      '0100007F:3000',
      '0500000A:3000', // 10.0.0.5:3000: not only loopback
      '0000000000000000FFFF00000500000A:8080', // [::ffff:10.0.0.5]:8080 reads as IPv4
      'B80D0120000000000000000001000000:9000', // [2001:db8::1]:9000
      '00000000000000000000000000000000:9001', // [::]:9001 alone (a dual-stack socket)
    ];
    expect(listeningFromWords(words)).toEqual([
      { port: 22, address: { kind: 'all' } },
      { port: 3000, address: { kind: 'addresses', addresses: ['10.0.0.5', '127.0.0.1'] } },
      { port: 5432, address: { kind: 'loopback' } },
      { port: 8080, address: { kind: 'addresses', addresses: ['10.0.0.5'] } },
      { port: 9000, address: { kind: 'addresses', addresses: ['2001:db8::1'] } },
      { port: 9001, address: { kind: 'all' } },
    ]);
  });

  it('is in a sample only when the sampler sent one; an empty one is an empty list', () => {
    const parser = new SampleStreamParser();
    const events = parser.feed('H 1 0 v2 2 1 children c\nT 1.0 2.0\nC 1 2 3 4\nP 00000000:22\nE 0\nT 2.0 3.0\nC 1 2 3 5\nE 1\nT 3.0 4.0\nC 1 2 3 6\nP\nE 2\n');
    const samples = events.flatMap((e) => (e.kind === 'sample' ? [e.raw.listening] : []));
    expect(samples).toEqual([[{ port: 22, address: { kind: 'all' } }], null, []]);
  });
});

describe('what listens', () => {
  it("reads Docker's published TCP ports, ranges and both families included", () => {
    const published = publishedPorts('web\t0.0.0.0:8080->80/tcp, :::8080->80/tcp, 53/udp\ndb\t127.0.0.1:15432->5432/tcp\nrange\t0.0.0.0:9000-9001->7000-7001/tcp\nquiet\t\n');
    expect(Object.fromEntries(published)).toEqual({
      8080: { kind: 'container', container: 'web', containerPort: 80 },
      15432: { kind: 'container', container: 'db', containerPort: 5432 },
      9000: { kind: 'container', container: 'range', containerPort: 7000 },
      9001: { kind: 'container', container: 'range', containerPort: 7001 },
    });
  });

  it("reads the processes `ss -ltnpH` shows; sockets of other users' processes show none", () => {
    const ss = [
      'LISTEN 0      4096         0.0.0.0:3000      0.0.0.0:*    users:(("node",pid=4242,fd=21))',
      'LISTEN 0      128             [::]:22           [::]:*',
      'LISTEN 0      511       [::ffff:127.0.0.1]:5173   *:*    users:(("vite dev",pid=77,fd=3),("vite dev",pid=78,fd=3))',
    ].join('\n');
    expect(Object.fromEntries(listeningProcesses(ss))).toEqual({
      3000: { kind: 'process', command: 'node', pid: 4242 },
      5173: { kind: 'process', command: 'vite dev', pid: 77 },
    });
  });

  it('a container wins over the process that holds its port for Docker; what neither names is unknown', () => {
    const { ownerOf: owners, docker } = ownersFrom(
      `${DOCKER_SECTION}\nweb\t0.0.0.0:8080->80/tcp\n${SS_SECTION}\nLISTEN 0 4096 0.0.0.0:8080 0.0.0.0:* users:(("docker-proxy",pid=9,fd=4))\nLISTEN 0 4096 0.0.0.0:3000 0.0.0.0:* users:(("node",pid=10,fd=4))\n`,
    );
    expect([8080, 3000, 22].map(owners)).toEqual([
      { kind: 'container', container: 'web', containerPort: 80 },
      { kind: 'process', command: 'node', pid: 10 },
      { kind: 'unknown' },
    ]);
    expect(docker).toBe(true);
    // No Docker section: Docker is not there (or not the user's to ask).
    expect(ownersFrom(`${SS_SECTION}\n`)).toMatchObject({ docker: false });
  });
});

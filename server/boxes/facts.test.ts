import { describe, expect, it } from 'vitest';
import { parseFacts } from './facts';

// Captured from factsCommand on a lab box (Debian bookworm container, `docker run ... boxyard-lab:bookworm`).
const labBoxOutput = `os_id=debian
os_name=Debian GNU/Linux 12 (bookworm)
os_version=12
kernel=6.18.44-fc-v782
arch=x86_64
cpus=2
mem_total_kb=24683656
mem_available_kb=23415336
disk_total_kb=264212084
disk_free_kb=80760868
virt=docker
uptime_s=826.26
`;

describe('parseFacts', () => {
  it('reads the lab box output', () => {
    expect(parseFacts(labBoxOutput)).toEqual({
      os: { id: 'debian', name: 'Debian GNU/Linux 12 (bookworm)', version: '12' },
      kernel: '6.18.44-fc-v782',
      arch: 'x86_64',
      cpus: 2,
      memoryTotalBytes: 24683656 * 1024,
      memoryAvailableBytes: 23415336 * 1024,
      diskTotalBytes: 264212084 * 1024,
      diskFreeBytes: 80760868 * 1024,
      virtualization: 'docker',
      docker: { client: null, server: null },
      uptimeSeconds: 826,
    });
  });

  it('tells a docker client without a reachable daemon from a running daemon', () => {
    const clientOnly = parseFacts(`${labBoxOutput}docker_client=20.10.24+dfsg1\ndocker_server=\n`);
    expect(clientOnly.docker).toEqual({ client: '20.10.24+dfsg1', server: null });
    const both = parseFacts(`${labBoxOutput}docker_client=20.10.24+dfsg1\ndocker_server=20.10.24+dfsg1\n`);
    expect(both.docker).toEqual({ client: '20.10.24+dfsg1', server: '20.10.24+dfsg1' });
  });

  it('keeps what it can when a box lacks tools or files, and keeps "=" inside values', () => {
    const facts = parseFacts('os_id=alpine\nos_name=Alpine Linux v3.20 (a=b)\nkernel=6.6.0\ncpus=\nvirt=\nuptime_s=abc\nnoise line\n');
    expect(facts.os).toEqual({ id: 'alpine', name: 'Alpine Linux v3.20 (a=b)', version: '' });
    expect(facts.cpus).toBeNull();
    expect(facts.memoryTotalBytes).toBeNull();
    expect(facts.virtualization).toBe('unknown');
    expect(facts.uptimeSeconds).toBeNull();
  });
});

import { describe, expect, it } from 'vitest';
import { parseContainerListing } from './containers';

// Real `docker ps -a --no-trunc --format '{{json .}}'` lines from Debian's docker.io 20.10.24.
const running =
  '{"Command":"\\"sleep 30\\"","CreatedAt":"2026-11-22 21:36:45 +0000 UTC","ID":"0eac4e984e4947754e717e7ac9c648d4bdb4f656f9339607a5d20bd424c19b9a","Image":"boxyard-lab:bookworm","Labels":"boxyard-lab.image-version=d0ccf0e8d5ba4171","LocalVolumes":"0","Mounts":"","Names":"bx-running-sample","Networks":"bridge","Platform":null,"Ports":"22/tcp","RunningFor":"Less than a second ago","Size":"0B (virtual 261MB)","State":"running","Status":"Up Less than a second"}';
const exited =
  '{"Command":"\\"true\\"","CreatedAt":"2026-11-22 21:36:42 +0000 UTC","ID":"11715ed6dbd966bed6d462f99b5dd06d08e67b56429d3ff82bf47475eb7c1484","Image":"boxyard-lab:bookworm","Labels":"boxyard-lab.image-version=d0ccf0e8d5ba4171","LocalVolumes":"0","Mounts":"","Names":"bx-stopped-sample","Networks":"bridge","Platform":null,"Ports":"","RunningFor":"1 second ago","Size":"0B (virtual 261MB)","State":"exited","Status":"Exited (0) 1 second ago"}';

describe('parseContainerListing', () => {
  it('lists running containers first, with short ids', () => {
    expect(parseContainerListing({ stdout: `${exited}\n${running}\n`, stderr: '', code: 0 })).toEqual({
      containers: [
        { id: '0eac4e984e49', name: 'bx-running-sample', image: 'boxyard-lab:bookworm', status: 'Up Less than a second', running: true },
        { id: '11715ed6dbd9', name: 'bx-stopped-sample', image: 'boxyard-lab:bookworm', status: 'Exited (0) 1 second ago', running: false },
      ],
    });
  });

  it('falls back to Status where an old docker CLI has no State', () => {
    const old = JSON.stringify({ ID: 'abc', Names: 'web', Image: 'nginx', Status: 'Up 3 hours' });
    expect(parseContainerListing({ stdout: old, stderr: '', code: 0 })).toMatchObject({ containers: [{ name: 'web', running: true }] });
  });

  it('says why there are no containers to show', () => {
    expect(parseContainerListing({ stdout: '__boxyard_no_docker__\n', stderr: '', code: 0 })).toEqual({ unavailable: 'Docker is not installed on this box.' });
    expect(
      parseContainerListing({
        stdout: '',
        stderr: 'permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.24/containers/json": dial unix /var/run/docker.sock: connect: permission denied',
        code: 1,
      }),
    ).toEqual({ unavailable: expect.stringContaining('docker group') });
    expect(
      parseContainerListing({ stdout: '', stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?', code: 1 }),
    ).toEqual({ unavailable: 'Docker is installed but its daemon is not running on this box.' });
    expect(parseContainerListing({ stdout: '', stderr: '', code: 0 })).toEqual({ containers: [] });
  });
});

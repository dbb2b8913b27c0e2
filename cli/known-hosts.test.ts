import { describe, expect, it } from 'vitest';
import { pinnedHostKey } from '../lib/validation';
import { renderKnownHosts } from './known-hosts';

const ed25519 = { algorithm: 'ssh-ed25519', blob: 'AAAAC3NzaC1lZDI1NTE5AAAAIE1vY2tLZXlGb3JUaGVDbGlFbmRwb2ludFRlc3Q=' };
const ecdsa = { algorithm: 'ecdsa-sha2-nistp256', blob: 'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY=' };

describe('renderKnownHosts', () => {
  it('writes one line per pinned box, named by the box, and none for a box without a pin', () => {
    expect(
      renderKnownHosts('https://boxyard.example.com', [
        { name: 'web-dev', hostKey: ed25519 },
        { name: 'fresh', hostKey: null },
        { name: 'db-dev', hostKey: ecdsa },
      ]),
    ).toBe(
      [
        '# The host keys https://boxyard.example.com pinned for your boxes, written by `boxyard connect`,',
        '# which rewrites this whole file on every run: edits here are lost.',
        `web-dev ssh-ed25519 ${ed25519.blob}`,
        `db-dev ecdsa-sha2-nistp256 ${ecdsa.blob}`,
        '',
      ].join('\n'),
    );
  });

  it('is only the header without pinned boxes, and keeps a URL from breaking out of its comment', () => {
    expect(renderKnownHosts('https://x.example\n* ssh-ed25519 AAAA', [])).toBe(
      '# The host keys https://x.example* ssh-ed25519 AAAA pinned for your boxes, written by `boxyard connect`,\n# which rewrites this whole file on every run: edits here are lost.\n',
    );
  });

  it('refuses a name or a key that could add a host pattern or a line', () => {
    expect(() => renderKnownHosts('https://x', [{ name: 'a,*', hostKey: ed25519 }])).toThrow(/cannot go into known_hosts/);
    expect(() => renderKnownHosts('https://x', [{ name: 'web', hostKey: { ...ed25519, blob: `${ed25519.blob}\n* ssh-ed25519 AAAA` } }])).toThrow(/base64/);
    expect(() => renderKnownHosts('https://x', [{ name: 'web', hostKey: { ...ed25519, algorithm: 'ssh-ed25519 AAAA' } }])).toThrow(/host key type/);
  });
});

describe('pinnedHostKey (what connect accepts from the dashboard)', () => {
  it('takes OpenSSH key types and padded base64, nothing with a space, a line break or a marker', () => {
    expect(pinnedHostKey.safeParse(ed25519).success).toBe(true);
    expect(pinnedHostKey.safeParse({ algorithm: 'sk-ssh-ed25519@openssh.com', blob: 'AAAA' }).success).toBe(true);
    for (const bad of [
      { ...ed25519, blob: 'AAAA BBBB' },
      { ...ed25519, blob: 'AAA' },
      { ...ed25519, blob: 'AAAA\n' },
      { ...ed25519, blob: '' },
      { ...ed25519, algorithm: '@cert-authority' },
      { ...ed25519, algorithm: 'ssh-ed25519\n' },
      { ...ed25519, blob: 'A'.repeat(8196) },
    ]) {
      expect(pinnedHostKey.safeParse(bad).success).toBe(false);
    }
  });
});

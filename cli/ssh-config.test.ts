import { describe, expect, it } from 'vitest';
import { ManagedBlockError } from '../server/connect/managed-block';
import type { ConnectBox } from '../server/connect/snippets';
import { renderSshConfig } from './ssh-config';

const web: ConnectBox = { name: 'web-dev', host: 'web.example.com', port: 22, user: 'dev' };
const db: ConnectBox = { name: 'db-dev', host: '203.0.113.7', port: 2222, user: 'ops' };

const block = (boxes: ConnectBox[], eol = '\n') =>
  [
    '# BEGIN boxyard (managed by `boxyard connect`)',
    ...boxes.flatMap((box, i) => [
      ...(i ? [''] : []),
      `Host ${box.name}`,
      `  HostName ${box.host}`,
      `  Port ${box.port}`,
      `  User ${box.user}`,
      '  IdentityFile ~/.ssh/id_ed25519',
      '  ServerAliveInterval 30',
      '  ControlMaster auto',
      '  ControlPath ~/.ssh/boxyard-%r@%h:%p',
      '  ControlPersist 10m',
    ]),
    '# END boxyard',
  ]
    .map((line) => line + eol)
    .join('');

describe('renderSshConfig', () => {
  it('writes the block into an empty or missing config', () => {
    expect(renderSshConfig('', [web, db])).toBe(block([web, db]));
  });

  it('appends after Include lines and Host * blocks, keeping them byte for byte', () => {
    const existing = 'Include ~/.orbstack/ssh/config\n\nHost *\n    AddKeysToAgent yes\n\tUseKeychain yes   \n\nHost github.com\n  User git\n';
    expect(renderSshConfig(existing, [web])).toBe(existing + block([web]));
  });

  it('replaces an existing block in place, with Host * blocks before and after it untouched', () => {
    const before = 'Host *\n  ServerAliveInterval 60\n\n';
    const after = '\nHost *\n  IdentitiesOnly yes\n# my own comment, no newline at the end';
    const existing = before + block([web]) + after;
    expect(renderSshConfig(existing, [db, web])).toBe(before + block([db, web]) + after);
  });

  it('keeps CRLF files CRLF', () => {
    const existing = 'Host old\r\n  HostName old.example.com\r\n';
    const written = renderSshConfig(existing, [web]);
    expect(written).toBe(existing + block([web], '\r\n'));
    expect(renderSshConfig(written, [web, db])).toBe(existing + block([web, db], '\r\n'));
  });

  it('ends an unterminated last line before appending, and changes nothing else', () => {
    expect(renderSshConfig('Host a\n  User me', [web])).toBe(`Host a\n  User me\n${block([web])}`);
  });

  it('a second run with the same boxes changes nothing', () => {
    const once = renderSshConfig('Host *\n  ForwardAgent no\n', [web, db]);
    expect(renderSshConfig(once, [web, db])).toBe(once);
  });

  it('no boxes: removes the block and leaves everything else', () => {
    const existing = `Host a\n${block([web])}Host b\n`;
    expect(renderSshConfig(existing, [])).toBe('Host a\nHost b\n');
    expect(renderSshConfig('Host a\n', [])).toBe('Host a\n');
  });

  it('refuses duplicate or unbalanced markers rather than guess', () => {
    expect(() => renderSshConfig(block([web]) + block([db]), [web])).toThrow(ManagedBlockError);
    expect(() => renderSshConfig(block([web]) + block([db]), [web])).toThrow(/more than one "# BEGIN boxyard \(managed by `boxyard connect`\)" line/);
    expect(() => renderSshConfig('# BEGIN boxyard (managed by `boxyard connect`)\nHost x\n', [web])).toThrow(/do not pair up/);
    expect(() => renderSshConfig('# END boxyard\n# BEGIN boxyard (managed by `boxyard connect`)\n', [web])).toThrow(/do not pair up/);
  });

  it('uses the identity file given, quoted when it holds a space', () => {
    expect(renderSshConfig('', [web], '/Users/me/My Keys/id_ed25519')).toContain('  IdentityFile "/Users/me/My Keys/id_ed25519"\n');
  });

  it('with the known_hosts file, tunnel and direct entries alike check the pinned key under the box name, strictly', () => {
    const knownHostsLines = ['  HostKeyAlias web-dev', '  UserKnownHostsFile /home/me/.config/boxyard/known_hosts', '  StrictHostKeyChecking yes'];
    const direct = renderSshConfig('', [web], undefined, undefined, '/home/me/.config/boxyard/known_hosts').split('\n');
    const tunnel = renderSshConfig('', [web], undefined, 'boxyard proxy %n', '/home/me/.config/boxyard/known_hosts').split('\n');
    for (const entry of [direct, tunnel]) {
      const at = entry.indexOf('  IdentityFile ~/.ssh/id_ed25519');
      expect(entry.slice(at + 1, at + 4)).toEqual(knownHostsLines);
    }
    expect(direct).toContain('  HostName web.example.com');
    expect(tunnel).toContain('  ProxyCommand boxyard proxy %n');
    expect(renderSshConfig('', [web], undefined, undefined, '/Users/me/Library/Application Support/boxyard/known_hosts')).toContain(
      '  UserKnownHostsFile "/Users/me/Library/Application Support/boxyard/known_hosts"\n',
    );
    expect(() => renderSshConfig('', [web], undefined, undefined, '/tmp/"x')).toThrow(/known_hosts file/);
  });

  it('refuses values that could add options to the config', () => {
    expect(() => renderSshConfig('', [{ ...web, host: 'x\n  ProxyCommand evil' }])).toThrow(/cannot go into an ssh config/);
    expect(() => renderSshConfig('', [{ ...web, name: 'a b' }])).toThrow(/cannot go into an ssh config/);
  });
});

import { describe, expect, it } from 'vitest';
import { exportPolicyYaml, importPolicyYaml, isSystemFolder, policyIssues, validatePolicy, type MountSpec } from './policy';

const spec = (over: Partial<MountSpec> = {}): MountSpec => ({
  hostPath: '/srv/src/app',
  guestPath: '/home/dev/app',
  transport: '9p',
  mode: 'consistent',
  readOnly: false,
  overrides: [],
  ...over,
});

const messages = (specs: MountSpec[]) => policyIssues(specs).map((issue) => issue.message);

describe('mount policy validation', () => {
  it('accepts a plain mount and normalises its guest path', () => {
    expect(validatePolicy([{ ...spec(), guestPath: '/home/dev//app/' }])[0].guestPath).toBe('/home/dev/app');
  });

  it.each(['/', '/etc', '/usr', '/usr/local', '/bin', '/boot', '/dev', '/proc', '/sys', '/var', '/var/lib/docker', '/lib', '/etc/nginx', '/run', '/tmp'])(
    'refuses the system folder %s',
    (guestPath) => {
      expect(isSystemFolder(guestPath)).toBe(true);
      expect(messages([spec({ guestPath })]).join()).toMatch(/system folder/);
    },
  );

  it.each(['/home/dev/app', '/srv/app', '/opt/x', '/workspace', '/var/www/site', '/mnt/code'])('allows %s', (guestPath) => {
    expect(isSystemFolder(guestPath)).toBe(false);
  });

  it('refuses relative guest paths, relative host paths and ..', () => {
    expect(messages([spec({ guestPath: 'home/dev' })]).join()).toMatch(/absolute/);
    expect(messages([spec({ hostPath: 'src' })]).join()).toMatch(/absolute path on the hypervisor host/);
    expect(messages([spec({ guestPath: '/home/dev/../../etc' })]).join()).toMatch(/\.\./);
  });

  it('refuses two mounts on one guest path', () => {
    expect(messages([spec(), spec({ hostPath: '/other', guestPath: '/home/dev/app/' })]).join()).toMatch(/Two mounts on \/home\/dev\/app/);
  });

  it('keeps overrides inside their mount', () => {
    for (const subPath of ['../x', '/abs', 'a/../../b', '.', 'a//b']) {
      expect(messages([spec({ overrides: [{ subPath, mode: 'delegated' }] })]).join(), subPath).toMatch(/inside its mount|relative to the mount|subdirectory/);
    }
    expect(messages([spec({ overrides: [{ subPath: 'build/out', mode: 'delegated' }] })])).toEqual([]);
  });

  it('names what a transport can do when it cannot honour a mode', () => {
    expect(messages([spec({ transport: 'parallels', mode: 'cached' })]).join()).toBe(
      'parallels cannot honour cached: Parallels shared folders (prl_fs) have no guest cache setting Boxyard can choose, so `cached` cannot be told apart from `consistent`. It can do consistent and delegated.',
    );
    expect(messages([spec({ transport: 'mutagen', hostPath: 'ann@laptop:/src', mode: 'consistent' })]).join()).toMatch(/mutagen cannot honour consistent: .* It can do cached and delegated\./);
    expect(messages([spec({ transport: 'parallels', overrides: [{ subPath: 'b', mode: 'cached' }] })]).join()).toMatch(/cannot honour cached/);
  });

  it('refuses delegated read-only mounts and remote specs that are not server:/path', () => {
    expect(messages([spec({ readOnly: true, mode: 'delegated' })]).join()).toMatch(/read-only mount cannot be delegated/);
    expect(messages([spec({ transport: 'nfs', hostPath: '/srv' })]).join()).toMatch(/\[user@\]server:\/absolute\/path/);
    expect(messages([spec({ transport: 'sshfs', hostPath: 'dev@127.0.0.1:/home/dev/src' })])).toEqual([]);
  });

  it('lists every problem in one error', () => {
    expect(() => validatePolicy([spec({ guestPath: '/etc' }), spec({ guestPath: '/etc', transport: 'parallels', mode: 'cached' })])).toThrow(/\/etc: .*system folder[\s\S]*cannot honour cached[\s\S]*Two mounts/);
  });
});

describe('boxyard.mounts.yaml', () => {
  const policy: MountSpec[] = [
    spec({ transport: 'virtiofs', mode: 'cached', overrides: [{ subPath: 'build', mode: 'delegated' }, { subPath: 'node_modules', mode: 'delegated' }] }),
    spec({ guestPath: '/srv/docs', hostPath: '/data/docs', readOnly: true, mode: 'cached' }),
    spec({ guestPath: '/home/dev/remote', hostPath: "dev@build-1.example:/home/dev/it's here", transport: 'sshfs', mode: 'consistent' }),
  ];

  it('round-trips', () => {
    const text = exportPolicyYaml(policy);
    expect(importPolicyYaml(text)).toEqual(policy);
    expect(exportPolicyYaml(importPolicyYaml(text))).toBe(text);
    expect(text).toContain('overrides:\n      build: delegated\n      node_modules: delegated');
  });

  it('reads the documented format with defaults', () => {
    expect(importPolicyYaml('version: 1\nmounts:\n  - guest: /home/dev/x\n    host: /x\n    transport: 9p\n')).toEqual([spec({ guestPath: '/home/dev/x', hostPath: '/x' })]);
  });

  it('names the line of each error', () => {
    expect(() => importPolicyYaml('version: 1\nmounts:\n  - guest: /a\n    host: [oops\n')).toThrow(/line \d+: not valid YAML/);
    expect(() => importPolicyYaml('version: 2\nmounts: []\n')).toThrow(/line 1: version must be 1/);
    expect(() => importPolicyYaml('version: 1\nmounts:\n  - guest: /home/a\n    host: /a\n    transport: 9p\n  - guest: /home/b\n    host: /b\n    transport: smb\n')).toThrow(
      /line 8: mount 2, transport: Choose 9p/,
    );
    expect(() => importPolicyYaml('version: 1\nmounts:\n  - guest: /home/a\n    host: /a\n    transport: 9p\n    mod: cached\n')).toThrow(/line 6: unknown key "mod"/);
    expect(() => importPolicyYaml('version: 1\nmounts:\n  - guest: /home/a\n    host: /a\n    transport: 9p\n  - guest: /etc\n    host: /b\n    transport: 9p\n')).toThrow(/line 6: \/etc: .*system folder/);
    expect(() => importPolicyYaml('version: 1\nmounts:\n  - guest: /home/a\n    host: /a\n    transport: 9p\n    overrides:\n      ../up: cached\n')).toThrow(/line 3: .*inside its mount/);
    expect(() => importPolicyYaml('just a string')).toThrow(/line 1: the file must be a mapping/);
  });
});

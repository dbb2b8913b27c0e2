import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { compilePolicy, mountCommandText, mountKey, mountUnitName, replicaRsync, systemdEscapePath, type CompiledEntry } from './compile';
import { mountModes, mountTransports, transportModes, type MountMode, type MountSpec, type MountTransport } from './policy';

const hostFor = (transport: MountTransport) => (['nfs', 'sshfs', 'mutagen'].includes(transport) ? 'dev@10.0.2.2:/srv/src/app' : '/srv/src/app');
const spec = (transport: MountTransport, mode: MountMode, over: Partial<MountSpec> = {}): MountSpec => ({
  hostPath: hostFor(transport),
  guestPath: '/home/dev/app',
  transport,
  mode,
  readOnly: false,
  overrides: [],
  ...over,
});
const one = (transport: MountTransport, mode: MountMode, over: Partial<MountSpec> = {}): CompiledEntry =>
  compilePolicy([spec(transport, mode, over)], { box: { sshUser: 'dev', host: 'box1.lan', port: 2222 } }).entries[0];
const status = (entry: CompiledEntry, id: string) => entry.guarantees.find((item) => item.id === id)?.status;

describe('systemd unit names', () => {
  it('escapes like systemd-escape --path', () => {
    expect(systemdEscapePath('/home/dev/app')).toBe('home-dev-app');
    expect(systemdEscapePath('/home/dev/my-app/')).toBe('home-dev-my\\x2dapp');
    expect(systemdEscapePath('/srv/a b/.cache')).toBe('srv-a\\x20b-\\x2ecache');
    expect(systemdEscapePath('/')).toBe('-');
    expect(mountUnitName('/var/lib/boxyard/mounts/by-1/share')).toBe('var-lib-boxyard-mounts-by\\x2d1-share.mount');
  });
});

describe('every transport in every mode it accepts', () => {
  const combos = mountTransports.flatMap((transport) => transportModes[transport].modes.map((mode) => [transport, mode] as const));

  it('covers 16 combinations', () => expect(combos).toHaveLength(16));

  it.each(combos)('%s %s: guarantees named, weakened ones make the entry "weakened", never a silent downgrade', (transport, mode) => {
    const entry = one(transport, mode);
    expect(entry.mode).toBe(mode);
    expect(entry.guarantees.length).toBeGreaterThan(3);
    const weak = entry.guarantees.filter((item) => item.status === 'weakened' || item.status === 'not-met');
    expect(entry.level).toBe(weak.length ? 'weakened' : 'full');
    for (const item of weak) expect(entry.summary).toContain(item.text);
    expect(entry.summary.startsWith(`${mode} on ${transport}`)).toBe(true);
  });

  it('the option table', () => {
    const table: Record<string, string> = {};
    for (const [transport, mode] of combos) {
      const entry = one(transport, mode);
      table[`${transport} ${mode}`] = [entry.host.kind, ...entry.units.map((u) => `${u.type}:${u.options}`), entry.replica ? 'replica' : ''].filter(Boolean).join(' | ');
    }
    expect(table).toEqual({
      '9p consistent': 'libvirt-9p | 9p:trans=virtio,version=9p2000.L,cache=none,msize=262144,access=client',
      '9p cached': 'libvirt-9p | 9p:trans=virtio,version=9p2000.L,cache=loose,sync,msize=262144,access=client',
      '9p delegated': 'libvirt-9p | 9p:trans=virtio,version=9p2000.L,cache=none,msize=262144,access=client | none:bind | replica',
      'virtiofs consistent': 'libvirt-virtiofs | virtiofs:rw',
      'virtiofs cached': 'libvirt-virtiofs | virtiofs:rw',
      'virtiofs delegated': 'libvirt-virtiofs | virtiofs:rw | none:bind | replica',
      'parallels consistent': 'prlctl | prl_fs:rw',
      'parallels delegated': 'prlctl | prl_fs:rw | none:bind | replica',
      'nfs consistent': 'nfs-export | nfs:vers=4.2,hard,proto=tcp,sync,noac,lookupcache=none',
      'nfs cached': 'nfs-export | nfs:vers=4.2,hard,proto=tcp,sync,actimeo=60,lookupcache=all',
      'nfs delegated': 'nfs-export | nfs:vers=4.2,hard,proto=tcp,async,actimeo=60,nocto,lookupcache=all',
      'sshfs consistent':
        'none | fuse.sshfs:_netdev,reconnect,ServerAliveInterval=15,ServerAliveCountMax=3,IdentityFile=/etc/boxyard/mount_ed25519,StrictHostKeyChecking=accept-new,allow_other,default_permissions,sshfs_sync,dir_cache=no,attr_timeout=0,entry_timeout=0,negative_timeout=0,direct_io',
      'sshfs cached':
        'none | fuse.sshfs:_netdev,reconnect,ServerAliveInterval=15,ServerAliveCountMax=3,IdentityFile=/etc/boxyard/mount_ed25519,StrictHostKeyChecking=accept-new,allow_other,default_permissions,sshfs_sync,dir_cache=yes,dcache_timeout=60,attr_timeout=60,entry_timeout=60,kernel_cache',
      'sshfs delegated':
        'none | fuse.sshfs:_netdev,reconnect,ServerAliveInterval=15,ServerAliveCountMax=3,IdentityFile=/etc/boxyard/mount_ed25519,StrictHostKeyChecking=accept-new,allow_other,default_permissions,sshfs_sync,dir_cache=no,attr_timeout=0,entry_timeout=0,negative_timeout=0,direct_io | none:bind | replica',
      'mutagen cached': 'mutagen',
      'mutagen delegated': 'mutagen',
    });
  });

  it('guarantee statuses per transport and mode', () => {
    expect(status(one('9p', 'consistent'), 'host-to-guest')).toBe('holds');
    expect(status(one('parallels', 'consistent'), 'host-to-guest')).toBe('weakened');
    expect(status(one('9p', 'cached'), 'guest-to-host')).toBe('holds');
    expect(status(one('9p', 'cached'), 'host-to-guest')).toBe('relaxed');
    expect(status(one('mutagen', 'cached'), 'guest-to-host')).toBe('weakened');
    for (const transport of ['9p', 'virtiofs', 'parallels', 'sshfs'] as const) {
      const entry = one(transport, 'delegated');
      expect(status(entry, 'sync-writes-back'), transport).toBe('weakened');
      expect(status(entry, 'stop-writes-back'), transport).toBe('holds');
      expect(entry.guarantees.find((item) => item.id === 'stop-writes-back')!.text).toContain(entry.replica!.replicaDir);
    }
    expect(status(one('nfs', 'delegated'), 'sync-writes-back')).toBe('holds');
    expect(one('nfs', 'delegated').level).toBe('full');
    expect(one('9p', 'consistent').level).toBe('full');
    expect(one('virtiofs', 'cached').level).toBe('full');
  });
});

describe('host side', () => {
  it('libvirt 9p XML with mapped access and read-only', () => {
    const entry = one('9p', 'cached', { readOnly: true, hostPath: "/srv/it's <here>" });
    expect(entry.host.text).toBe(
      `<filesystem type='mount' accessmode='mapped'>\n  <source dir='/srv/it&apos;s &lt;here&gt;'/>\n  <target dir='${entry.key}'/>\n  <readonly/>\n</filesystem>`,
    );
    expect(entry.host.share).toEqual({ name: entry.key, hostPath: "/srv/it's <here>", readOnly: true });
    expect(entry.host.needsStoppedVm).toBe(true);
    expect(entry.units[0].options).toContain(',ro');
  });

  it('virtiofs: virtiofsd cache none for consistent, always for cached, none under a delegated replica; shared memory named', () => {
    expect(one('virtiofs', 'consistent').host.text).toContain("<cache mode='none'/>");
    expect(one('virtiofs', 'cached').host.text).toContain("<cache mode='always'/>");
    expect(one('virtiofs', 'delegated').host.text).toContain("<cache mode='none'/>");
    expect(one('virtiofs', 'cached').host.text).toContain("<driver type='virtiofs' queue='1024'/>");
    expect(one('virtiofs', 'cached').host.notes.join()).toMatch(/memoryBacking.*memfd.*shared/);
  });

  it('Parallels: prlctl --shf-host-add with ro', () => {
    const entry = one('parallels', 'consistent', { readOnly: true });
    expect(entry.host.text).toBe(`prlctl set '<vm>' --shf-host-add '${entry.key}' --path '/srv/src/app' --mode ro`);
    expect(entry.host.needsStoppedVm).toBe(false);
  });

  it('NFS exports line names the box', () => {
    expect(one('nfs', 'delegated').host.text).toBe('/srv/src/app box1.lan(rw,sync,no_subtree_check)');
    expect(one('nfs', 'consistent').units[0].what).toBe('10.0.2.2:/srv/src/app');
  });

  it('Mutagen: sync mode and alpha/beta follow the mode', () => {
    const key = mountKey('/home/dev/app');
    expect(one('mutagen', 'cached').host.text).toBe(
      `mutagen sync create '--name=boxyard-${key}' '--sync-mode=two-way-resolved' --ignore-vcs '--label=boxyard=${key}' '/srv/src/app' 'dev@box1.lan:2222:/home/dev/app'`,
    );
    expect(one('mutagen', 'cached', { readOnly: true }).host.text).toContain("'--sync-mode=one-way-replica'");
    expect(one('mutagen', 'delegated').host.text).toMatch(/'--sync-mode=two-way-resolved' .* 'dev@box1\.lan:2222:\/home\/dev\/app' '\/srv\/src\/app'$/);
    expect(one('mutagen', 'delegated').units).toEqual([]);
  });
});

describe('guest side', () => {
  it('writes a complete systemd mount unit and the same fstab line', () => {
    const entry = one('9p', 'consistent');
    expect(entry.units[0].unitName).toBe('home-dev-app.mount');
    expect(entry.units[0].text).toBe(
      [
        `# Managed by Boxyard (${entry.key}): /home/dev/app, 9p, consistent. Changes are overwritten.`,
        '[Unit]',
        'Description=Boxyard mount /home/dev/app (9p, consistent)',
        '',
        '[Mount]',
        `What=${entry.key}`,
        'Where=/home/dev/app',
        'Type=9p',
        'Options=trans=virtio,version=9p2000.L,cache=none,msize=262144,access=client',
        'TimeoutSec=30',
        '',
        '[Install]',
        'WantedBy=local-fs.target',
        '',
      ].join('\n'),
    );
    expect(entry.units[0].fstab).toBe(`${entry.key} /home/dev/app 9p trans=virtio,version=9p2000.L,cache=none,msize=262144,access=client 0 0`);
    expect(mountCommandText(entry.units[0])).toEqual(['mount', '-t', '9p', '-o', 'trans=virtio,version=9p2000.L,cache=none,msize=262144,access=client', entry.key, '/home/dev/app']);
  });

  it('network transports wait for the network and escape blanks in fstab', () => {
    const entry = one('sshfs', 'consistent', { guestPath: '/home/dev/my app' });
    expect(entry.units[0].text).toContain('After=network-online.target');
    expect(entry.units[0].text).toContain('WantedBy=remote-fs.target');
    expect(entry.units[0].fstab.startsWith('dev@10.0.2.2:/srv/src/app /home/dev/my\\040app fuse.sshfs ')).toBe(true);
    expect(mountCommandText(entry.units[0])[0]).toBe('sshfs');
  });

  it('delegated: share mounted consistent in Boxyard\'s folder, replica bind-mounted, rsync both ways', () => {
    const entry = one('9p', 'delegated');
    expect(entry.units.map((u) => u.where)).toEqual([`/var/lib/boxyard/mounts/${entry.key}/share`, '/home/dev/app']);
    expect(entry.units[1]).toMatchObject({ what: `/var/lib/boxyard/mounts/${entry.key}/replica`, type: 'none', options: 'bind' });
    expect(entry.units[1].text).toContain(`Requires=${entry.units[0].unitName}`);
    expect(replicaRsync(entry.replica!, 'write-back')).toEqual(['rsync', '-a', '--omit-dir-times', '--delete', `${entry.replica!.replicaDir}/`, `${entry.replica!.shareDir}/`]);
  });
});

describe('subdirectory overrides', () => {
  const policy = [
    spec('9p', 'cached', {
      overrides: [
        { subPath: 'build', mode: 'delegated' },
        { subPath: 'vendor/cache', mode: 'consistent' },
      ],
    }),
  ];
  const { entries } = compilePolicy(policy);

  it('become their own mounts, parents first, each with its own source and options', () => {
    expect(entries.map((e) => [e.guestPath, e.mode, e.source, e.parent])).toEqual([
      ['/home/dev/app', 'cached', '/srv/src/app', null],
      ['/home/dev/app/build', 'delegated', '/srv/src/app/build', '/home/dev/app'],
      ['/home/dev/app/vendor/cache', 'consistent', '/srv/src/app/vendor/cache', '/home/dev/app'],
    ]);
    expect(entries[0].units[0].options).toContain('cache=loose');
    expect(entries[2].units[0].options).toContain('cache=none');
    expect(new Set(entries.map((e) => e.key)).size).toBe(3);
  });

  it('stack under the parent unit', () => {
    expect(entries[1].units[1].text).toContain('Requires=home-dev-app.mount');
    expect(entries[2].units[0].text).toContain('Requires=home-dev-app.mount\nAfter=home-dev-app.mount');
  });

  it('a delegated parent never copies or deletes what its overrides hold', () => {
    const { entries: nested } = compilePolicy([spec('virtiofs', 'delegated', { overrides: [{ subPath: 'src', mode: 'cached' }] })]);
    expect(nested[0].replica!.excludes).toEqual(['src']);
    expect(replicaRsync(nested[0].replica!, 'seed')).toContain('--exclude=/src/');
    expect(nested[1].units[0].text).toContain('Requires=home-dev-app.mount');
  });

  it('remote sources get the subdirectory appended', () => {
    const { entries: remote } = compilePolicy([spec('nfs', 'consistent', { overrides: [{ subPath: 'out', mode: 'delegated' }] })]);
    expect(remote[1].units[0].what).toBe('10.0.2.2:/srv/src/app/out');
  });
});

describe('docker compose override', () => {
  it('gives every bind mount its flag', () => {
    const { compose } = compilePolicy(
      [spec('9p', 'cached', { overrides: [{ subPath: 'build', mode: 'delegated' }] }), spec('sshfs', 'consistent', { guestPath: '/srv/docs', readOnly: true })],
      { composeService: 'web' },
    );
    expect(parse(compose)).toEqual({
      services: { web: { volumes: ['/srv/src/app:/home/dev/app:cached', '/srv/src/app/build:/home/dev/app/build:delegated', '/srv/src/app:/srv/docs:ro,consistent'] } },
    });
  });
});

it('is pure: the same policy compiles to the same output', () => {
  const policy = mountModes.map((mode, i) => spec('virtiofs', mode, { guestPath: `/home/dev/p${i}` }));
  expect(JSON.stringify(compilePolicy(policy))).toBe(JSON.stringify(compilePolicy(structuredClone(policy))));
});

// The lab hypervisor host itself: over real SSH, the dev user drives this machine's libvirtd with plain `virsh`.
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SshPool } from '../../../server/ssh/pool';
import { sh } from '../../../server/ssh/quote';
import { LAB_START_TIMEOUT_MS, labTarget } from '../../helpers/ssh';
import { createShareDir, defineDomainXml, defineEmptyDomain, labDomainName, removeDomain, startLibvirtHost, virshOk, type LabDomain, type LibvirtHost } from '../libvirt-host';

let host: LibvirtHost;
let pool: SshPool;
let domain: LabDomain | undefined;

function sshDev(command: string) {
  return pool.exec(host.name, labTarget(host), sh.raw(command));
}

beforeAll(async () => {
  host = await startLibvirtHost({ namePrefix: 'boxyard-lab-libvirt-test' });
  pool = new SshPool();
  pool.start();
}, LAB_START_TIMEOUT_MS);

afterAll(async () => {
  await pool?.stop();
  if (domain) await removeDomain(domain.name);
  await host?.remove();
});

describe('lab hypervisor host', () => {
  it('lets dev run virsh against qemu:///system and see a lab domain', async () => {
    domain = await defineEmptyDomain();
    const result = await sshDev(`virsh -c ${host.connectUri} list --all --name`);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')).toContain(domain.name);
  });

  it('shares LAB_SHARES_DIR at the same path', async () => {
    const dir = await createShareDir('host-test');
    try {
      const result = await sshDev(`test -d ${dir} && echo yes`);
      expect(result.stdout.trim()).toBe('yes');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('removeDomain removes only lab domains and is idempotent', async () => {
    const d = await defineEmptyDomain();
    await virshOk(['start', '--domain', d.name]);
    await virshOk(['managedsave', '--domain', d.name]);
    await removeDomain(d.name);
    await removeDomain(d.name);
    expect((await virshOk(['list', '--all', '--name'])).split('\n')).not.toContain(d.name);
  });

  it('removeDomain refuses a domain without the lab mark, even when named lab-...', async () => {
    const unmarked = await defineDomainXml(`<domain type='qemu'><name>${labDomainName('unmarked')}</name><memory unit='MiB'>64</memory><os><type arch='x86_64' machine='pc'>hvm</type></os></domain>`);
    try {
      await expect(removeDomain(unmarked.name)).rejects.toThrow(/refusing to remove .*not a lab domain/);
    } finally {
      await virshOk(['undefine', '--domain', unmarked.name]);
    }
  });
});

import { defineEmptyDomain, removeDomain, startLibvirtHost, virshOk, type LabDomain, type LibvirtHost } from '../testing/lab/libvirt-host';
import { expect, test, uniqueName } from '../testing/helpers/e2e/test';

// The host page's VM table against this machine's real libvirtd, through a lab hypervisor host: the buttons follow
// the VM's state, each click is a job whose outcome shows up live, and a VM is imported as a box whose page then
// shows the VM card. A diskless TCG domain stands in for a VM: it boots to nothing, but every state change is real.

let lab: LibvirtHost;
let domain: LabDomain;

test.beforeAll(async () => {
  lab = await startLibvirtHost({ namePrefix: 'e2e-vms' });
  domain = await defineEmptyDomain();
});

test.afterAll(async () => {
  if (domain) await removeDomain(domain.uuid);
  await lab?.remove();
});

test('the host page’s VM buttons follow the state, and a VM becomes a box in one click', async ({ adminPage: page, adminApi }, testInfo) => {
  test.setTimeout(240_000);
  const { publicKey } = await adminApi.settings.dashboardPublicKey.query();
  await lab.authorize(publicKey);
  const hostName = uniqueName('kvm');
  const host = await adminApi.hosts.create.mutate({ name: hostName, kind: 'libvirt', host: lab.host, port: lab.port, sshUser: lab.user, auth: { method: 'dashboard-key' } });

  // The add-box page leads to the host's template form.
  await page.goto('/boxes/new');
  await page.getByRole('link', { name: `New box from a template on ${hostName}` }).click();
  await expect(page).toHaveURL(new RegExp(`/hosts/${host.id}\\?new=template$`));
  await expect(page.getByRole('form', { name: 'New box from template' })).toBeVisible({ timeout: 30_000 });

  await page.goto(`/hosts/${host.id}`);
  await expect(page.getByRole('heading', { name: hostName })).toBeVisible();
  const row = page.locator(`tr[data-vm="${domain.name}"]`);
  const button = (label: string) => row.getByRole('button', { name: `${label} ${domain.name}`, exact: true });
  const expectButtons = async (labels: string[]) => {
    for (const label of ['Start', 'Resume', 'Stop', 'Suspend', 'Pause', 'Restart']) {
      await expect(button(label)).toHaveCount(labels.includes(label) ? 1 : 0);
    }
  };

  await expect(row).toHaveAttribute('data-state', 'stopped');
  await expectButtons(['Start']);

  await button('Start').click();
  await expect(row).toHaveAttribute('data-state', 'running', { timeout: 60_000 });
  await expectButtons(['Stop', 'Suspend', 'Pause', 'Restart']);
  expect((await virshOk(['domstate', '--domain', domain.name])).trim()).toBe('running');

  await button('Suspend').click();
  await expect(row).toHaveAttribute('data-state', 'suspended', { timeout: 60_000 });
  await expectButtons(['Resume']);

  await button('Resume').click();
  await expect(row).toHaveAttribute('data-state', 'running', { timeout: 60_000 });

  // The diskless guest ignores the shutdown request: powered off after the timeout the user set.
  await page.getByLabel('Seconds before a stop powers the VM off').fill('2');
  // Stopping ends what runs in the guest: it is confirmed first, and cancelling keeps it running.
  await button('Stop').click();
  const dialog = page.getByRole('alertdialog', { name: `Stop ${domain.name}?` });
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
  await expect(row).toHaveAttribute('data-state', 'running');
  await button('Stop').click();
  await dialog.getByRole('button', { name: 'Stop', exact: true }).click();
  await expect(row).toHaveAttribute('data-state', 'stopped', { timeout: 60_000 });
  await expectButtons(['Start']);
  await page.getByRole('link', { name: 'Follow the last job and its log' }).click();
  await expect(page.getByText(`${domain.name} did not shut down within 2 s: it was powered off (forced).`)).toBeVisible({ timeout: 30_000 });
  await page.goBack();

  // Import as a box; the lab's guests are reached on a forwarded port, so the address is given by hand.
  const boxName = uniqueName('vmbox');
  await row.getByRole('button', { name: `Import ${domain.name} as a box` }).click();
  const form = page.getByRole('form', { name: `Import ${domain.name} as a box` });
  await form.getByLabel('Box name').fill(boxName);
  await form.getByLabel('SSH address').fill('127.0.0.1');
  await form.getByLabel('SSH port').fill('1');
  await form.getByRole('button', { name: 'Import' }).click();

  await expect(page.getByRole('heading', { name: boxName })).toBeVisible({ timeout: 30_000 });
  const card = page.locator('section').filter({ has: page.getByRole('heading', { name: 'Virtual machine' }) });
  await expect(card.locator('[data-state="stopped"]')).toBeVisible();
  await expect(card.getByRole('link', { name: hostName })).toBeVisible();
  await card.getByRole('button', { name: `Start ${domain.name}` }).click();
  await expect(card.locator('[data-state="running"]')).toBeVisible({ timeout: 60_000 });
  await expect(card.getByRole('button', { name: `Suspend ${domain.name}` })).toBeVisible();
  await testInfo.attach('box-vm-card', { body: await page.screenshot({ fullPage: true }), contentType: 'image/png' });

  const box = (await adminApi.boxes.list.query({})).find((b) => b.name === boxName);
  if (box) await adminApi.boxes.delete.mutate({ id: box.id });
  await adminApi.hosts.delete.mutate({ id: host.id });
});

import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startLabBox } from '../testing/lab/lab';
import { expect, signIn, test, uniqueName } from '../testing/helpers/e2e/test';

const run = promisify(execFile);

/**
 * The whole developer path with real clients: a developer registers a key and makes a token in the UI, a team lead
 * provisions the box in the UI, then the repo's CLI writes the developer's ssh config and docker context, and the
 * REAL ssh and docker CLIs reach the box through them, by the dashboard's tunnel (`boxyard proxy`).
 */
test('a developer connects from their laptop: CLI, ssh and docker --context against a box provisioned in the UI', async ({ page, adminApi, makeDeveloper, baseURL }) => {
  test.setTimeout(300_000);
  const home = await mkdtemp(path.join(tmpdir(), 'boxyard-laptop-'));
  const dockerBox = await startLabBox({ namePrefix: 'e2e-connect', dockerCapable: true });
  try {
    // The laptop: its own key pair, and an `ssh` that reads this HOME (OpenSSH takes ~ from the passwd entry, not
    // $HOME; docker's ssh helper cannot be given -F, so a wrapper on PATH stands in for the laptop's own ssh). It says
    // nothing about host keys: the entries' own known_hosts file and StrictHostKeyChecking yes decide.
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice@laptop', '-f', path.join(home, 'id_ed25519')]);
    const bin = path.join(home, 'bin');
    await run('mkdir', ['-p', bin, path.join(home, '.ssh')]);
    await writeFile(
      path.join(bin, 'ssh'),
      `#!/bin/sh\nexec /usr/bin/ssh -F "$HOME/.ssh/config" -o ControlPath="$HOME/.ssh/cm-%C" "$@"\n`,
    );
    await chmod(path.join(bin, 'ssh'), 0o755);
    const laptop = { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), PATH: `${bin}:${process.env.PATH}`, DOCKER_CONFIG: path.join(home, '.docker') };
    const knownHosts = path.join(home, '.config', 'boxyard', 'known_hosts');
    const publicKey = (await readFile(path.join(home, 'id_ed25519.pub'), 'utf8')).trim();

    const alice = await makeDeveloper('alice');
    await dockerBox.authorize((await adminApi.settings.dashboardPublicKey.query()).publicKey);
    const box = await adminApi.boxes.create.mutate({ name: uniqueName('alice-dev'), host: dockerBox.host, port: dockerBox.port, sshUser: 'dev', ownerId: alice.id, auth: { method: 'dashboard-key' } });

    // Alice: her key and a token, in the UI.
    await signIn(page, alice);
    await page.goto('/profile');
    const keyForm = page.getByRole('form', { name: 'Add an SSH key' });
    await keyForm.getByLabel('Name').fill('laptop');
    await keyForm.getByLabel('Public key').fill(publicKey);
    await keyForm.getByRole('button', { name: 'Add key' }).click();
    await expect(page.getByRole('list', { name: 'Your SSH keys' })).toContainText('laptop');
    await page.getByLabel('Token name').fill('laptop');
    await page.getByRole('button', { name: 'Make token' }).click();
    const token = (await page.getByRole('status').getByText(/^byd_[A-Za-z0-9_-]+$/).textContent())!.trim();
    expect(token).toMatch(/^byd_/);

    // The team lead provisions the box in the UI; the job installs Docker and Alice's key.
    await signIn(page, { email: 'admin@e2e.test', password: 'e2e-admin-password' });
    await page.goto(`/boxes/${box.id}`);
    await page.getByRole('button', { name: 'Provision Docker' }).click();
    await expect(page.locator('[data-job] [data-job-status]').first()).toHaveText('succeeded', { timeout: 240_000 });
    await expect(page.locator('[data-step="Install developer keys"]')).toContainText('changed');

    // Alice's laptop: the CLI, then the real clients through what it wrote.
    const cli = await run('npx', ['tsx', 'cli/boxyard.ts', 'connect', '--url', baseURL!, '--token', token, '--identity-file', path.join(home, 'id_ed25519')], { env: laptop });
    expect(cli.stdout).toContain(box.name);
    const config = await readFile(path.join(home, '.ssh', 'config'), 'utf8');
    // Through the dashboard's tunnel: the entry has a ProxyCommand and no address of the box.
    expect(config).toContain(`Host ${box.name}`);
    expect(config).toMatch(/ProxyCommand .* proxy --url \S+ --credentials \S+\/credentials\.json %n/);
    expect(config).not.toContain(token);
    expect(config).not.toContain(`Port ${dockerBox.port}`);
    // The box's key as the dashboard pinned it, checked strictly by the laptop's ssh (and so by docker's).
    expect(config).toContain(`  HostKeyAlias ${box.name}\n  UserKnownHostsFile ${knownHosts}\n  StrictHostKeyChecking yes\n`);
    const hostKey = await dockerBox.hostPublicKey('ed25519');
    expect(await readFile(knownHosts, 'utf8')).toContain(`\n${box.name} ${hostKey.algorithm} ${hostKey.blob}\n`);

    expect((await run('ssh', ['-o', 'BatchMode=yes', box.name, 'echo', 'via-ssh-$((40+2))'], { env: laptop })).stdout.trim()).toBe('via-ssh-42');
    const info = await run('docker', ['--context', box.name, 'info', '--format', '{{.ServerVersion}}'], { env: laptop });
    expect(info.stdout.trim()).toMatch(/^\d+\.\d+/);

    // An image from a local tarball (nothing can be pulled): one static binary.
    const rootfs = path.join(home, 'rootfs');
    await run('mkdir', ['-p', rootfs]);
    await writeFile(path.join(home, 'hello.c'), '#include <stdio.h>\nint main(void) { puts("hello from a container on the box"); return 0; }\n');
    await run('gcc', ['-static', '-Os', '-o', path.join(rootfs, 'hello'), path.join(home, 'hello.c')]);
    await run('tar', ['-C', rootfs, '-cf', path.join(home, 'hello.tar'), '.']);
    await run('docker', ['--context', box.name, 'import', path.join(home, 'hello.tar'), 'hello:local'], { env: laptop });
    const hello = await run('docker', ['--context', box.name, 'run', '--rm', 'hello:local', '/hello'], { env: laptop });
    expect(hello.stdout.trim()).toBe('hello from a container on the box');
  } finally {
    await dockerBox.remove();
    await rm(home, { recursive: true, force: true });
  }
});

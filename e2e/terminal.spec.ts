import WebSocket from 'ws';
import { installDockerInBox, runTinyContainer } from '../testing/lab/docker-box';
import { startLabBox } from '../testing/lab/lab';
import { signedInApi } from '../testing/helpers/e2e/api';
import { expect, signIn, test, uniqueName } from '../testing/helpers/e2e/test';
import { expectOutput, expectTerminalState, run, sessionIdOf, terminalSize } from '../testing/helpers/e2e/terminal';

test('runs a command in a box terminal and shows its output', async ({ adminPage: page, adminApi, labBox }) => {
  const box = await adminApi.boxes.create.mutate({ name: uniqueName('term'), host: labBox.host, port: labBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });
  await page.goto(`/boxes/${box.id}`);
  await page.getByRole('button', { name: 'New terminal' }).click();
  const session = await sessionIdOf(page);
  await expectTerminalState(page, session, 'open');
  await run(page, session, 'echo hello-$((6*7)); echo $TERM; tput colors');
  await expectOutput(page, session, /hello-42\nxterm-256color\n256/);
});

test('output produced while the socket was cut appears after the automatic reconnect', async ({ adminPage: page, adminApi, labBox }) => {
  const box = await adminApi.boxes.create.mutate({ name: uniqueName('cut'), host: labBox.host, port: labBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });
  // Every terminal WebSocket goes through this route, so the test can cut the live one like a dropped network.
  const sockets: { close: (o?: { code?: number; reason?: string }) => Promise<void> }[] = [];
  await page.routeWebSocket(/\/api\/terminal/, (ws) => {
    ws.connectToServer();
    sockets.push(ws);
  });
  await page.goto(`/boxes/${box.id}/terminal`);
  await expect(page).toHaveURL(/session=/);
  const session = await sessionIdOf(page);
  await expectTerminalState(page, session, 'open');

  await run(page, session, 'sleep 2; echo produced-while-away-$((20+22))');
  await sockets.at(-1)!.close({ code: 4001, reason: 'network dropped (test)' });
  await expectTerminalState(page, session, 'reconnecting');
  await expectTerminalState(page, session, 'open');
  await expectOutput(page, session, /produced-while-away-42/);
  expect(sockets.length).toBeGreaterThanOrEqual(2);

  // A reload re-attaches the same session from the URL.
  await run(page, session, 'export MARK=still-$((1+1))');
  await page.reload();
  await expectTerminalState(page, session, 'open');
  await run(page, session, 'echo $MARK');
  await expectOutput(page, session, /\nstill-2/);
});

test('stty size on the box follows the browser window', async ({ adminPage: page, adminApi, labBox }) => {
  const box = await adminApi.boxes.create.mutate({ name: uniqueName('size'), host: labBox.host, port: labBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });
  await page.setViewportSize({ width: 900, height: 600 });
  await page.goto(`/boxes/${box.id}/terminal`);
  const session = await sessionIdOf(page);
  await expectTerminalState(page, session, 'open');
  const small = await terminalSize(page, session);
  await run(page, session, 'echo size=$(stty size)');
  await expectOutput(page, session, new RegExp(`size=${small.rows} ${small.cols}\\b`));

  await page.setViewportSize({ width: 1400, height: 1000 });
  await expect.poll(async () => (await terminalSize(page, session)).cols).toBeGreaterThan(small.cols);
  const large = await terminalSize(page, session);
  await run(page, session, 'clear; echo size=$(stty size)');
  await expectOutput(page, session, new RegExp(`size=${large.rows} ${large.cols}\\b`));
});

test('a 200 MB flood finishes without the dashboard holding it in memory', async ({ adminPage: page, adminApi, labBox }) => {
  test.setTimeout(600_000);
  const box = await adminApi.boxes.create.mutate({ name: uniqueName('flood'), host: labBox.host, port: labBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });
  await page.goto(`/boxes/${box.id}/terminal`);
  const session = await sessionIdOf(page);
  await expectTerminalState(page, session, 'open');
  const before = (await adminApi.system.stats.query()).rssBytes;
  let peak = before;
  const sampler = setInterval(() => {
    void adminApi.system.stats.query().then((s) => (peak = Math.max(peak, s.rssBytes)), () => undefined);
  }, 250);
  try {
    await run(page, session, "head -c 200000000 /dev/zero | tr '\\0' x; echo; echo flood-$((100+1))-done");
    await expectOutput(page, session, /flood-101-done/, 540_000);
  } finally {
    clearInterval(sampler);
  }
  // Bound: flow control keeps at most the high watermark (1 MiB) unacked plus the ring buffer per session;
  // 100 MB leaves room for GC timing, and is far below the 200 MB that went through.
  const growthMb = (peak - before) / 1e6;
  console.log(`flood: server RSS before ${(before / 1e6).toFixed(0)} MB, peak ${(peak / 1e6).toFixed(0)} MB, growth ${growthMb.toFixed(0)} MB`);
  expect(growthMb).toBeLessThan(100);
});

test('a developer cannot attach to another developer’s box or session', async ({ page, adminApi, labBox, makeDeveloper, baseURL }) => {
  const alice = await makeDeveloper('alice');
  const bob = await makeDeveloper('bob');
  const alicesBox = await adminApi.boxes.create.mutate({ name: uniqueName('alice'), host: labBox.host, port: labBox.port, sshUser: 'dev', ownerId: alice.id, auth: { method: 'dashboard-key' } });
  const bobsBox = await adminApi.boxes.create.mutate({ name: uniqueName('bob'), host: labBox.host, port: labBox.port, sshUser: 'dev', ownerId: bob.id, auth: { method: 'dashboard-key' } });

  // Alice opens a session on her box in the browser.
  await signIn(page, alice);
  await page.goto(`/boxes/${alicesBox.id}/terminal`);
  const alicesSession = await sessionIdOf(page);
  await expectTerminalState(page, alicesSession, 'open');

  const { cookie: bobCookie } = await signedInApi(baseURL!, bob);
  const attach = (params: Record<string, string>) =>
    new Promise<{ code: number; reason: string }>((resolve, reject) => {
      const url = `${baseURL!.replace('http', 'ws')}/api/terminal?${new URLSearchParams({ cols: '80', rows: '24', ...params })}`;
      const ws = new WebSocket(url, { headers: { cookie: bobCookie, origin: baseURL! } });
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      ws.on('error', reject);
    });
  // Bob's attempt at Alice's box, and at Alice's session through his own box: refused, before any PTY.
  expect(await attach({ session: crypto.randomUUID(), box: alicesBox.id, mode: 'new' })).toMatchObject({ code: 4404 });
  expect(await attach({ session: alicesSession, box: bobsBox.id, mode: 'attach' })).toMatchObject({ code: 4403 });
  expect(await attach({ session: alicesSession, box: alicesBox.id, mode: 'attach' })).toMatchObject({ code: 4404 });
  // Alice's session is untouched.
  await expectTerminalState(page, alicesSession, 'open');
  await run(page, alicesSession, 'echo alice-$((2+3))');
  await expectOutput(page, alicesSession, /alice-5/);

  // In the UI, Bob cannot even open Alice's box.
  await signIn(page, bob);
  await page.goto(`/boxes/${alicesBox.id}`);
  await expect(page.getByRole('main').getByRole('alert')).toHaveText('No such box, or you do not have access to it.');
});

test('opens a shell inside a container running on a box with a real dockerd', async ({ adminPage: page, adminApi }) => {
  test.setTimeout(300_000);
  const dockerBox = await startLabBox({ namePrefix: 'e2e-docker', dockerCapable: true });
  try {
    await dockerBox.authorize((await adminApi.settings.dashboardPublicKey.query()).publicKey);
    await installDockerInBox(dockerBox);
    await runTinyContainer(dockerBox, 'web');
    const box = await adminApi.boxes.create.mutate({ name: uniqueName('docker'), host: dockerBox.host, port: dockerBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });

    await page.goto(`/boxes/${box.id}`);
    await page.getByRole('button', { name: 'Open shell in web' }).click();
    const session = await sessionIdOf(page);
    await expectTerminalState(page, session, 'open');
    await run(page, session, 'echo in-$((1+1)); cat /proc/1/cmdline | tr "\\0" " "');
    await expectOutput(page, session, /in-2\nsleep 100000/);
  } finally {
    await dockerBox.remove();
  }
});

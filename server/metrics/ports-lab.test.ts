// Listening ports on a real lab box (docker-capable: one per file, Docker-in-box is slow): both samplers report a
// server on every interface and one on the loopback only, with the process that listens, and report them gone when
// they stop; a container's published port is mapped to the container and its internal port within two sampler
// intervals, and is gone after the container stops.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListeningPort } from '../../lib/ports';
import { startMetricsBackend, testMetrics, type MetricsBackend } from '../../testing/helpers/metrics';
import { until } from '../../testing/helpers/wait';
import { installDockerInBox, runTinyContainer } from '../../testing/lab/docker-box';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import type { MetricsService } from './service';

/** testMetrics samples every second while nobody watches the box. */
const INTERVAL_MS = 1_000;

describe('listening ports on a lab box', () => {
  let box: LabBox;
  let backend: MetricsBackend;
  let boxId: string;

  /** A perl server as dev (so `ss` shows dev's SSH login its process) on ADDRESS:PORT, until killed. */
  const serveOnBox = async (address: string, port: number) => {
    // An IPv6 socket only for IPv6, so [::] and 0.0.0.0 can share a port as two sockets.
    const v6only = address.includes(':') ? ',V6Only=>1' : '';
    const script = `use IO::Socket::IP; $s=IO::Socket::IP->new(LocalHost=>"${address}",LocalPort=>${port},Listen=>4,ReuseAddr=>1${v6only}) or die $!; sleep 1 while 1`;
    const ran = await box.root(`su dev -c 'setsid perl -e ${JSON.stringify(script).replaceAll('$', '\\$')} >/tmp/serve-${port}.log 2>&1 </dev/null &'`);
    expect(ran).toMatchObject({ code: 0 });
  };
  const stopServers = () => box.root("pkill -u dev -f 'IO::Socket::IP'");

  beforeAll(async () => {
    box = await startLabBox({ dockerCapable: true, namePrefix: 'ports' });
    // Before the dashboard's first login: dev's SSH sessions then have the docker group.
    await installDockerInBox(box);
    backend = await startMetricsBackend();
    await box.authorize(backend.services.dashboardPublicKey);
    boxId = (await backend.addBox('ports-box', box)).id;
  }, 300_000);

  afterAll(async () => {
    await backend?.stop();
    await box?.remove();
  });

  for (const sampler of ['c', 'bash'] as const) {
    describe(`the ${sampler} sampler`, () => {
      let metrics: MetricsService;
      const ports = () => metrics.ports.get(boxId).ports;
      const portOf = (port: number) => ports()?.find((p) => p.port === port);

      beforeAll(async () => {
        metrics = testMetrics(backend, sampler === 'bash' ? { sampler: { compiled: [] } } : {});
        await metrics.start({ only: [boxId] });
        await until(() => metrics.sampler.streamView(boxId)?.header, 'the sampler header', 30_000);
        expect(metrics.sampler.streamView(boxId)!.header!.implementation).toBe(sampler);
      }, 60_000);

      afterAll(() => metrics?.stop());

      it('reports sshd on every interface from the first sample, and again only on a change', async () => {
        await until(() => portOf(22), 'port 22', 10_000);
        expect(portOf(22)!.address).toEqual({ kind: 'all' });
        const { since } = metrics.ports.get(boxId);
        const seq = metrics.sampler.recent(boxId).length;
        await until(() => metrics.sampler.recent(boxId).length >= seq + 3, 'three more samples', 10_000);
        expect(metrics.ports.get(boxId).since).toBe(since);
      });

      it('a server on 0.0.0.0 and one on 127.0.0.1 appear with their process, IPv4 and IPv6 merged, and go when stopped', async () => {
        await serveOnBox('0.0.0.0', 7101);
        await serveOnBox('::', 7101); // the same port on IPv6 too (v6only on Linux when v4 holds it): one entry
        await serveOnBox('127.0.0.1', 7102);
        await serveOnBox('::1', 7102);
        await until(() => portOf(7101) && portOf(7102)?.owner.kind === 'process', 'both servers', 10_000);
        expect(ports()!.filter((p) => p.port === 7101 || p.port === 7102)).toEqual([
          { port: 7101, address: { kind: 'all' }, owner: { kind: 'process', command: 'perl', pid: expect.any(Number) } },
          { port: 7102, address: { kind: 'loopback' }, owner: { kind: 'process', command: 'perl', pid: expect.any(Number) } },
        ] satisfies ListeningPort[]);
        await stopServers();
        await until(() => ports() && !portOf(7101) && !portOf(7102), 'both servers gone', 10_000);
        expect(portOf(22)).toBeDefined();
      });
    });
  }

  it('a container with a published port: mapped to the container and its port within two samples, gone after it stops', async () => {
    const metrics = testMetrics(backend);
    await metrics.start({ only: [boxId] });
    try {
      await until(() => metrics.ports.get(boxId).ports?.some((p) => p.port === 22), 'the first report', 30_000);
      await runTinyContainer(box, 'web', { publish: ['7300:8080'] });
      // docker run returns once the container runs and Docker listens for it.
      const started = Date.now();
      const web = await until(() => metrics.ports.get(boxId).ports?.find((p) => p.port === 7300 && p.owner.kind === 'container'), 'the published port', {
        timeoutMs: 10_000,
        describe: async () => `${JSON.stringify(metrics.ports.get(boxId))}\n${(await box.root('ss -ltnp; su dev -c "docker ps"')).stdout}`,
      });
      // Two sampler intervals, and the one owners command that ran for the change.
      expect(Date.now() - started).toBeLessThan(2 * INTERVAL_MS + 1_000);
      expect(web).toEqual({ port: 7300, address: { kind: 'all' }, owner: { kind: 'container', container: 'web', containerPort: 8080 } });
      await box.root('docker rm -f web');
      await until(() => metrics.ports.get(boxId).ports && !metrics.ports.get(boxId).ports!.some((p) => p.port === 7300), 'the port gone', 10_000);
    } finally {
      await metrics.stop();
    }
  }, 120_000);
});

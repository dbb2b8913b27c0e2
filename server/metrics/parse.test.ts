import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { deriveSample, SampleStreamParser, type RawSample, type SamplerHeader } from './parse';

// Fixtures: the sampler's real output (server/metrics/script.ts), captured on 2026-11-22:
// - lab-container-cgroup-v1.txt: a lab box (Debian 12 container, cgroup v1, no /run/systemd, 384 MiB limit), 1 s interval.
// - dashboard-machine-no-container.txt: this test machine itself, a container with unlimited memory (cgroup v1 reports
//   9223372036854771712) and the lab boxes running as docker containers inside it (K lines).
// - lab-vm-debian12-systemd.txt: the lab VM (testing/lab/vm.ts: Debian 12 guest under QEMU TCG, systemd, cgroup v2, kernel
//   6.1), 90 s after boot, run as dev through `su` inside root's SSH session (so that session counts as 1 login).
const fixture = (name: string) => readFileSync(new URL(`../../testing/fixtures/metrics/${name}`, import.meta.url), 'utf8');

function parseAll(text: string, chunkSize = 17) {
  const parser = new SampleStreamParser();
  const events = [];
  // Fed in small chunks: lines split across SSH packets must still parse.
  for (let i = 0; i < text.length; i += chunkSize) events.push(...parser.feed(text.slice(i, i + chunkSize)));
  const header = events.find((e) => e.kind === 'header')?.header as SamplerHeader;
  const samples = events.filter((e) => e.kind === 'sample').map((e) => e.raw as RawSample);
  const errors = events.filter((e) => e.kind === 'error');
  return { header, samples, errors };
}

describe('sampler stream parsing on captured output', () => {
  it('reads a lab box (container, cgroup v1): CPU and memory from its cgroup, not the host', () => {
    const { header, samples, errors } = parseAll(fixture('lab-container-cgroup-v1.txt'));
    expect(errors).toEqual([]);
    expect(header).toMatchObject({ version: 1, container: true, cgroup: 'v1', ncpu: 2 });
    expect(samples.length).toBeGreaterThanOrEqual(3);
    const [a, b] = samples as [RawSample, RawSample];
    expect(a.seq).toBe(0);
    expect(b.seq).toBe(1);
    expect(a.diskUsedPct).toBeGreaterThan(0); // the first sample always measures the disk
    expect(b.diskUsedPct).toBeNull(); // then only every 300 s
    expect(a.cgroupMemLimit).toBe(384 * 1024 * 1024);
    const derived = deriveSample(header, a, b, 1_000);
    expect(derived.cpuPct).not.toBeNull();
    expect(derived.cpuPct!).toBeGreaterThanOrEqual(0);
    expect(derived.cpuPct!).toBeLessThan(100);
    expect(derived.memTotalBytes).toBe(384 * 1024 * 1024); // the box's limit, not the host's 24 GB
    expect(derived.memUsedBytes!).toBeGreaterThan(0);
    expect(derived.memUsedBytes!).toBeLessThan(derived.memTotalBytes!);
    expect(derived.load1).toBeGreaterThanOrEqual(0);
    expect(derived.netRxBps).not.toBeNull();
    expect(derived.sessions).toBe(0);
    expect(derived.containers).toBe(0);
  });

  it('reads a container with unlimited memory and containers inside (K lines)', () => {
    const { header, samples, errors } = parseAll(fixture('dashboard-machine-no-container.txt'), 5);
    expect(errors).toEqual([]);
    expect(header.container).toBe(true);
    const [a, b] = samples as [RawSample, RawSample];
    expect(a.containers.length).toBeGreaterThan(0);
    const derived = deriveSample(header, a, b, 0);
    // "No limit" (2^63 rounded to pages) falls back to the host's MemTotal.
    expect(derived.memTotalBytes).toBe(a.memTotalKb! * 1024);
    expect(derived.containers).toBe(a.containers.length);
    for (const pct of derived.containerCpuPct) expect(Number.isNaN(pct) || pct >= 0).toBe(true);
    expect(a.net.map((n) => n.iface)).toContain('eth0');
    expect(a.net.map((n) => n.iface)).not.toContain('lo');
  });

  it('reads the lab VM (not a container, cgroup v2): CPU from /proc/stat deltas, memory from /proc/meminfo', () => {
    const { header, samples, errors } = parseAll(fixture('lab-vm-debian12-systemd.txt'), 3);
    expect(errors).toEqual([]);
    expect(header).toMatchObject({ container: false, cgroup: 'v2', ncpu: 2 });
    const [a, b] = samples as [RawSample, RawSample];
    expect(a.cgroupCpuUs).toBeNull();
    const derived = deriveSample(header, a, b, 0);
    expect(derived.cpuPct!).toBeGreaterThan(0);
    expect(derived.cpuPct!).toBeLessThanOrEqual(100);
    expect(derived.memTotalBytes).toBe(983_488 * 1024); // the guest's own 1 GiB
    expect(derived.memUsedBytes).toBe((983_488 - 734_072) * 1024);
    expect(derived.sessions).toBe(1);
    expect(a.net.map((n) => n.iface)).toEqual(['ens30']);
    expect(derived.netTxBps!).toBeGreaterThan(0);
  });

  it('the first sample and a sample after a reboot have no rates (null, never zero)', () => {
    const { header, samples } = parseAll(fixture('lab-container-cgroup-v1.txt'));
    const [a, b] = samples as [RawSample, RawSample];
    const first = deriveSample(header, null, a, 0);
    expect(first.cpuPct).toBeNull();
    expect(first.netRxBps).toBeNull();
    // Uptime went back: the box rebooted between the two.
    const rebooted = { ...b, uptimeS: 3 };
    expect(deriveSample(header, a, rebooted, 0).cpuPct).toBeNull();
  });

  it("a jump of the box's wall clock changes no rate (rates use /proc/uptime)", () => {
    const { header, samples } = parseAll(fixture('lab-container-cgroup-v1.txt'));
    const [a, b] = samples as [RawSample, RawSample];
    const normal = deriveSample(header, a, b, 0);
    const jumped = deriveSample(header, a, { ...b, boxClockS: (a.boxClockS ?? 0) - 86_400 }, 0);
    expect(jumped.cpuPct).toBe(normal.cpuPct);
    expect(jumped.netRxBps).toBe(normal.netRxBps);
  });

  it('an old kernel without MemAvailable: free + buffers + cached', () => {
    const text = fixture('lab-container-cgroup-v1.txt').replace(/^M (\d+) \d+ /gm, 'M $1 - ');
    const { header, samples } = parseAll(text);
    const raw = samples[0]!;
    expect(raw.memAvailableKb).toBeGreaterThan(0);
    expect(deriveSample({ ...header, container: false }, null, raw, 0).memUsedBytes).toBeGreaterThan(0);
  });

  it('non-container boxes use /proc/stat deltas', () => {
    const { header, samples } = parseAll(fixture('lab-container-cgroup-v1.txt'));
    const [a, b] = samples as [RawSample, RawSample];
    const pct = deriveSample({ ...header, container: false }, a, b, 0).cpuPct!;
    const total = (f: number[]) => f.slice(0, 8).reduce((x, y) => x + y, 0);
    const idle = (f: number[]) => f[3]! + f[4]!;
    const expected = (1 - (idle(b.cpu) - idle(a.cpu)) / (total(b.cpu) - total(a.cpu))) * 100;
    expect(pct).toBeCloseTo(expected, 6);
  });

  it('garbage before the first block, a truncated block and an over-long line are reported, not fatal', () => {
    const parser = new SampleStreamParser();
    const good = fixture('lab-container-cgroup-v1.txt');
    const events = [
      ...parser.feed('Welcome to a box with a chatty motd\n'),
      ...parser.feed('T 1.0 2.0\nE 9\n'),
      ...parser.feed(good),
    ];
    expect(events.filter((e) => e.kind === 'error').map((e) => (e as { message: string }).message)).toEqual(['incomplete sample 9: no uptime or CPU line']);
    expect(events.filter((e) => e.kind === 'sample').length).toBeGreaterThanOrEqual(3);
    expect(parser.feed('x'.repeat(70_000))).toEqual([{ kind: 'error', message: 'the sampler sent a line longer than 64 KiB' }]);
  });
});

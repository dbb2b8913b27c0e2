// The compiled sampler: both builds exist (scripts/build-sampler.sh, run by install.sh), each prints what the bash
// sampler prints (the aarch64 build runs here under qemu-user), and on a real lab box a copy that cannot run or an
// upload that cannot be stored falls back to the bash sampler, saying why.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import { boxCopyPath, buildFor, COMPILED_SAMPLER_DIR, loadCompiledSamplers, samplerCommand } from './compiled-sampler';
import { SampleStreamParser, type RawSample, type SamplerHeader } from './parse';
import { bashSamplerCommand } from './script';
import type { MetricsService } from './service';
import { startMetricsBackend, testMetrics, type MetricsBackend } from '../../testing/helpers/metrics';
import { until } from '../../testing/helpers/wait';

/** Runs a sampler here with stdin closed: it prints its header and one sample, then sees EOF and exits. */
function runOnce(argv: string[]): { header: SamplerHeader; raw: RawSample; lines: string[] } {
  const result = spawnSync(argv[0]!, argv.slice(1), { input: '', encoding: 'utf8', timeout: 30_000 });
  expect(result.status, result.stderr).toBe(0);
  const events = new SampleStreamParser().feed(result.stdout);
  const header = events.find((e) => e.kind === 'header');
  const sample = events.find((e) => e.kind === 'sample');
  if (header?.kind !== 'header' || sample?.kind !== 'sample') throw new Error(`no header and sample in:\n${result.stdout}`);
  return { header: header.header, raw: sample.raw, lines: result.stdout.trim().split('\n') };
}

/** p_type of each program header of a 64-bit little-endian ELF file. */
function programHeaderTypes(elf: Buffer): number[] {
  const offset = Number(elf.readBigUInt64LE(32));
  const size = elf.readUInt16LE(54);
  return Array.from({ length: elf.readUInt16LE(56) }, (_, i) => elf.readUInt32LE(offset + i * size));
}

const tags = (lines: string[]) => lines.map((l) => l.split(' ')[0]).join('');

describe('compiled sampler builds', () => {
  const builds = loadCompiledSamplers();
  const binary = (arch: string) => `${COMPILED_SAMPLER_DIR}/boxyard-sampler-${arch}`;

  it('exist for both box architectures (install.sh builds them)', () => {
    expect(builds.map((b) => b.arch)).toEqual(['x86_64', 'aarch64']);
    for (const build of builds) expect(build.sha256).toMatch(/^[0-9a-f]{64}$/);
    // ELF e_machine: 62 = x86-64, 183 = AArch64; static: no PT_INTERP program header (no dynamic loader needed).
    for (const [build, machine] of [[builds[0]!, 62], [builds[1]!, 183]] as const) {
      expect(build.bytes.readUInt16LE(18)).toBe(machine);
      expect(programHeaderTypes(build.bytes)).not.toContain(3);
    }
  });

  it('prints the same lines as the bash sampler on the same machine', () => {
    const bash = runOnce(['bash', '-c', bashSamplerCommand(1, 300).text]);
    const compiled = runOnce([binary('x86_64'), '1', '300']);
    expect(compiled.header).toEqual({ ...bash.header, implementation: 'c', ownPid: compiled.header.ownPid });
    expect(bash.header.implementation).toBe('bash');
    expect(tags(compiled.lines)).toBe(tags(bash.lines));
    expect(compiled.raw.cpu).toHaveLength(bash.raw.cpu.length);
    expect(compiled.raw.memTotalKb).toBe(bash.raw.memTotalKb);
    expect(compiled.raw.cgroupMemLimit).toBe(bash.raw.cgroupMemLimit);
    expect(compiled.raw.net.map((n) => n.iface)).toEqual(bash.raw.net.map((n) => n.iface));
    expect(compiled.raw.sessions).toBe(bash.raw.sessions);
    // The first sample always says which TCP ports listen (this machine has some: the test database at least).
    expect(compiled.lines.find((l) => l.startsWith('P'))).toBe(bash.lines.find((l) => l.startsWith('P')));
    expect(compiled.raw.listening?.length).toBeGreaterThan(0);
    // df (bash) and statvfs (compiled) agree on the disk's use, to the percent.
    expect(Math.abs(compiled.raw.diskUsedPct! - bash.raw.diskUsedPct!)).toBeLessThanOrEqual(1);
    expect(compiled.raw.uptimeS).toBeGreaterThanOrEqual(bash.raw.uptimeS);
    expect(compiled.raw.boxClockS! * 1000).toBeGreaterThan(Date.now() - 60_000);
  });

  it('the aarch64 build prints the same lines (run under qemu-user)', () => {
    const native = runOnce([binary('x86_64'), '1', '300']);
    const arm = runOnce(['qemu-aarch64-static', binary('aarch64'), '1', '300']);
    expect(arm.header).toMatchObject({ implementation: 'c', ncpu: native.header.ncpu, cgroup: native.header.cgroup, container: native.header.container });
    expect(tags(arm.lines)).toBe(tags(native.lines));
    expect(arm.raw.memTotalKb).toBe(native.raw.memTotalKb);
  });

  it('a number on stdin changes the interval and takes a sample at once; EOF ends it', () => {
    // Interval 60 s: only the line on stdin can make the second sample come within the test's time.
    const result = spawnSync('bash', ['-c', `{ sleep 0.3; echo 0.2; sleep 0.5; } | ${binary('x86_64')} 60 300`], { encoding: 'utf8', timeout: 10_000 });
    expect(result.status).toBe(0);
    const samples = new SampleStreamParser().feed(result.stdout).filter((e) => e.kind === 'sample');
    expect(samples.length).toBeGreaterThanOrEqual(3); // the first, one for the line, one or more at 0.2 s
  });

  it('finds the build for each name uname -m gives, and none for other architectures', () => {
    expect(buildFor(builds, 'x86_64')?.arch).toBe('x86_64');
    expect(buildFor(builds, 'aarch64')?.arch).toBe('aarch64');
    expect(buildFor(builds, 'arm64')?.arch).toBe('aarch64');
    expect(buildFor(builds, 'armv7l')).toBeUndefined();
  });

  it('the start command leaves out an architecture without a build (its boxes run bash at once)', () => {
    const onlyArm = builds.filter((b) => b.arch === 'aarch64');
    const text = samplerCommand(onlyArm, 1, 300).text;
    expect(text).toContain(`'aarch64'|'arm64') f='${boxCopyPath(onlyArm[0]!)}';;`);
    expect(text).not.toContain("'x86_64')");
    expect(samplerCommand([], 1, 300).text).toBe(bashSamplerCommand(1, 300).text);
  });
});

describe('compiled sampler on a lab box: fallbacks', () => {
  let box: LabBox;
  let backend: MetricsBackend;
  let metrics: MetricsService | null = null;
  let boxId: string;

  const view = () => metrics!.sampler.streamView(boxId);
  const startSampling = async () => {
    metrics = testMetrics(backend);
    await metrics.start({ only: [boxId] });
    await until(() => (metrics!.sampler.latest(boxId) ? view() : null), 'a sample');
  };

  beforeAll(async () => {
    box = await startLabBox({ namePrefix: 'compiled' });
    backend = await startMetricsBackend();
    await box.authorize(backend.services.dashboardPublicKey);
    boxId = (await backend.addBox('compiled', box)).id;
  }, 180_000);

  afterAll(async () => {
    await metrics?.stop();
    await backend?.stop();
    await box?.remove();
  });

  it('a copy the box cannot execute: the bash sampler runs, and the box page says why', async () => {
    const x86 = loadCompiledSamplers().find((b) => b.arch === 'x86_64')!;
    // What a truncated or foreign file looks like to the box: present under the right name, not executable code.
    await box.root(`install -d -o dev -m 700 /home/dev/.cache/boxyard && printf 'not a program' > /home/dev/${boxCopyPath(x86)} && chown dev /home/dev/${boxCopyPath(x86)} && chmod 700 /home/dev/${boxCopyPath(x86)}`);
    await startSampling();
    expect(view()!.header?.implementation).toBe('bash');
    expect(view()!.compiledNote).toMatch(/cannot execute the compiled sampler/);
    expect(metrics!.sampler.latest(boxId)!.memTotalBytes).toBeGreaterThan(0);
    // The bad copy is gone, so a later start uploads a good one.
    expect((await box.root(`test -e /home/dev/${boxCopyPath(x86)} && echo present || echo gone`)).stdout.trim()).toBe('gone');
    await metrics!.stop();
  }, 60_000);

  it('an upload that cannot be stored (no room for ~/.cache/boxyard): the bash sampler runs, the failure is audited', async () => {
    await box.root('rm -rf /home/dev/.cache && printf x > /home/dev/.cache && chown dev /home/dev/.cache');
    await startSampling();
    expect(view()!.header?.implementation).toBe('bash');
    expect(view()!.compiledNote).toMatch(/could not be stored on the box/);
    const audit = await backend.services.db.auditEvent.findFirst({ where: { action: 'box.sampler.upload', boxId } });
    expect(audit?.result).toBe('error');
    await metrics!.stop();
  }, 60_000);

  it('once the box can store it, the compiled sampler is uploaded and runs', async () => {
    await box.root('rm -f /home/dev/.cache');
    await startSampling();
    expect(view()!.header?.implementation).toBe('c');
    expect(view()!.compiledNote).toBeNull();
    const listing = await box.root('ls /home/dev/.cache/boxyard');
    expect(listing.stdout.trim()).toBe(boxCopyPath(loadCompiledSamplers().find((b) => b.arch === 'x86_64')!).split('/').pop());
  }, 60_000);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import type { ExecResult } from '../ssh/pool';
import type { ShellCommand } from '../ssh/quote';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { StepFailed } from '../jobs/recipe';
import { applyOnGuest, type RootRun } from './apply-recipe';
import { compilePolicy, type CompiledEntry } from './compile';
import { APPLIED_FILE, FSTAB_BEGIN, SYNC_TOOL, writeBackScript } from './guest';
import type { MountSpec } from './policy';

/**
 * The guest half of apply, for real, in a lab box (a Debian container with CAP_SYS_ADMIN and no systemd, so the
 * fstab-block path). A container cannot mount 9p or virtiofs, so each entry's share is replaced by a bind mount of a
 * folder in the box that plays the host's folder: everything else (mount order, stacking, replica seeding, write-back,
 * /proc/mounts verification, rollback, fstab block) is the product's own script. The real transports are in
 * vm-mounts.test.ts.
 */

const HOST_DIR = '/srv/hostside';

/** Compiled entries whose shares are bind mounts of HOST_DIR/<source> (the "host"). */
function labEntries(specs: MountSpec[]): CompiledEntry[] {
  return compilePolicy(specs).entries.map((entry) => ({
    ...entry,
    units: entry.units.map((u, i) => (i === 0 && u.type !== 'none' ? { ...u, type: 'none', what: `${HOST_DIR}${entry.source}`, options: 'bind' } : u)),
  }));
}

const spec = (over: Partial<MountSpec>): MountSpec => ({ hostPath: '/app', guestPath: '/home/dev/app', transport: '9p', mode: 'consistent', readOnly: false, overrides: [], ...over });

describe('applying mounts in a box (guest side)', () => {
  let box: LabBox;
  let run: RootRun;
  const logs: string[] = [];

  async function sh(command: string): Promise<string> {
    const result = await box.root(command);
    if (result.code !== 0) throw new Error(`${command}: ${result.stderr}`);
    return result.stdout;
  }
  const apply = (entries: CompiledEntry[]) => applyOnGuest(run, { systemd: false }, entries, async (text) => void logs.push(text));
  const procMounts = async () => (await sh('cat /proc/mounts')).split('\n').filter((line) => line.includes('/home/dev/app'));

  beforeAll(async () => {
    box = await startLabBox({ dockerCapable: true, namePrefix: 'mounts' });
    run = async (command: ShellCommand): Promise<ExecResult> => ({ ...(await box.root(command.text)), signal: null, durationMs: 0 }) as ExecResult;
    await sh(`command -v rsync >/dev/null || (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsync >/dev/null)`);
    await sh(`mkdir -p ${HOST_DIR}/app/build ${HOST_DIR}/app/src && echo host-v1 > ${HOST_DIR}/app/src/main.go && echo old > ${HOST_DIR}/app/build/old.o && touch /etc/fstab`);
  }, LAB_START_TIMEOUT_MS + 120_000);

  afterAll(async () => {
    await box?.remove();
  });

  it('consistent: a host write is visible in the box at once, and a box write on the host', async () => {
    await apply(labEntries([spec({})]));
    expect(await sh('cat /home/dev/app/src/main.go')).toBe('host-v1\n');
    await sh(`echo host-v2 > ${HOST_DIR}/app/src/main.go`);
    expect(await sh('cat /home/dev/app/src/main.go')).toBe('host-v2\n');
    await sh('echo from-box > /home/dev/app/src/new.go');
    expect(await sh(`cat ${HOST_DIR}/app/src/new.go`)).toBe('from-box\n');
    expect(await sh('cat /etc/fstab')).toContain(FSTAB_BEGIN);
    expect(JSON.parse(await sh(`cat ${APPLIED_FILE}`))).toHaveLength(1);
  });

  it('per-subdirectory modes: build delegated is its own mount stacked under the consistent parent, and stays in the box until a write-back', async () => {
    const entries = labEntries([spec({ overrides: [{ subPath: 'build', mode: 'delegated' }] })]);
    await apply(entries);
    const mounts = await procMounts();
    expect(mounts.map((line) => line.split(' ')[1])).toEqual(['/home/dev/app', '/home/dev/app/build']);
    // Seeded from the host once.
    expect(await sh('cat /home/dev/app/build/old.o')).toBe('old\n');
    await sh('echo artefact > /home/dev/app/build/out.o && rm /home/dev/app/build/old.o');
    expect(await sh(`ls ${HOST_DIR}/app/build`)).toBe('old.o\n');
    // The parent stays consistent.
    await sh('echo direct > /home/dev/app/src/direct.go');
    expect(await sh(`cat ${HOST_DIR}/app/src/direct.go`)).toBe('direct\n');
    // Rule 2/4: the write-back (what boxyard-mount-sync and a Boxyard stop run) brings writes and deletions to the host.
    const back = await run(writeBackScript(entries));
    expect(back.stdout).toContain('wrote back /home/dev/app/build');
    expect(await sh(`ls ${HOST_DIR}/app/build`)).toBe('out.o\n');
    // The tool on the box does the same.
    await sh('echo second > /home/dev/app/build/two.o');
    await sh(SYNC_TOOL);
    expect(await sh(`cat ${HOST_DIR}/app/build/two.o`)).toBe('second\n');
  });

  it('a failed write-back fails loudly and says where the data is kept', async () => {
    const entries = labEntries([spec({ overrides: [{ subPath: 'build', mode: 'delegated' }] })]);
    const build = entries.find((e) => e.subPath === 'build')!;
    await sh('echo unsaved > /home/dev/app/build/unsaved.o');
    await sh(`umount ${build.units[0].where}`);
    const back = await run(writeBackScript(entries));
    expect(back.code).toBe(1);
    expect(back.stderr).toContain(`write-back of /home/dev/app/build FAILED: the share is not mounted at ${build.units[0].where}; the box's changes are kept in ${build.replica!.replicaDir}`);
    expect(await sh(`cat ${build.replica!.replicaDir}/unsaved.o`)).toBe('unsaved\n');
    // An apply refuses to change anything while the write-back fails.
    await expect(apply(labEntries([spec({})]))).rejects.toThrow(/write-back of the current delegated mounts failed, so nothing was changed/);
    await sh(`mount --bind ${HOST_DIR}/app/build ${build.units[0].where}`);
  });

  it('a mode change writes the delegated data back first, then a mount that fails to come up rolls back to the previous set', async () => {
    await apply(labEntries([spec({})]));
    expect(await sh(`cat ${HOST_DIR}/app/build/unsaved.o`)).toBe('unsaved\n');
    expect((await procMounts()).map((line) => line.split(' ')[1])).toEqual(['/home/dev/app']);

    const broken = labEntries([spec({ guestPath: '/home/dev/app', mode: 'cached', overrides: [{ subPath: 'vendor', mode: 'consistent' }] })]);
    broken[1] = { ...broken[1], units: [{ ...broken[1].units[0], what: '/nonexistent/source' }] };
    const error = await apply(broken).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StepFailed);
    expect((error as Error).message).toMatch(/a mount failed to come up: [\s\S]*The previous mounts were put back and work: \/home\/dev\/app \(consistent on 9p\)\./);
    expect((await procMounts()).map((line) => line.split(' ')[1])).toEqual(['/home/dev/app']);
    await sh(`echo after-rollback > ${HOST_DIR}/app/src/main.go`);
    expect(await sh('cat /home/dev/app/src/main.go')).toBe('after-rollback\n');
    expect(JSON.parse(await sh(`cat ${APPLIED_FILE}`))[0].mode).toBe('consistent');
  });

  it('removing every mount leaves nothing behind', async () => {
    await apply([]);
    expect(await procMounts()).toEqual([]);
    expect(await sh('cat /etc/fstab')).not.toContain(FSTAB_BEGIN);
  });
});

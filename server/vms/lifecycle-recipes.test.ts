import { describe, expect, it } from 'vitest';
import type { Db } from '../db/client';
import { failed, ok, scriptedExec, type ScriptedStep } from '../../testing/helpers/hypervisors';
import { StepFailed, type Recipe, type StepContext } from '../jobs/recipe';
import type { ShellCommand } from '../ssh/quote';
import { cloneParams, cloneRecipe } from './clone-recipe';
import { lifecycleRecipes, vmActionParams, type VmActionParams } from './lifecycle-recipes';
import { availableActions, refusal } from './rules';

/**
 * The lifecycle recipes' steps against a scripted libvirt host: the exact virsh command lines, idempotent checks
 * ("already running" is success), refusals in words, a VM deleted behind Boxyard's back, stop forced after its
 * timeout. The runner itself (retries, leases, logs) is tested in server/jobs; here each step runs check, then
 * apply and verify when check says so, as the runner does.
 */

const ID = '0b5d6a3e-1111-4c4c-9a9a-000000000001';
const LOCATE: ScriptedStep = { command: `command -v 'virsh'`, result: ok('/usr/bin/virsh\n') };

function dominfo(state: string, options: { managedSave?: boolean; id?: string; name?: string } = {}): string {
  return `Id:             ${state === 'shut off' ? '-' : '3'}
Name:           ${options.name ?? 'web-1'}
UUID:           ${options.id ?? ID}
OS Type:        hvm
State:          ${state}
CPU(s):         2
Max memory:     1048576 KiB
Used memory:    1048576 KiB
Persistent:     yes
Autostart:      disable
Managed save:   ${options.managedSave ? 'yes' : 'no'}

`;
}

const info = (text: string | ReturnType<typeof failed>): ScriptedStep => ({ command: `LC_ALL=C virsh dominfo --domain '${ID}'`, result: typeof text === 'string' ? ok(text) : text });
const virsh = (args: string, result = ok('')): ScriptedStep => ({ command: `LC_ALL=C virsh ${args} --domain '${ID}'`, result });

interface Run {
  log: string[];
  exec: ReturnType<typeof scriptedExec>;
}

function context<P, S>(params: P, exec: ReturnType<typeof scriptedExec>, log: string[], box: StepContext<P, S>['box'] = null): StepContext<P, S> {
  return {
    jobId: 'job-1',
    db: undefined as unknown as Db,
    box,
    host: { id: 'host-1', name: 'kvm1', kind: 'libvirt' },
    params,
    state: {},
    signal: new AbortController().signal,
    exec: () => Promise.reject(new Error('no box commands in these tests')),
    refreshSession: () => undefined,
    hostExec: (command: ShellCommand, options) => exec(command, options),
    log: async (text) => {
      log.push(text);
    },
  };
}

/** Steps that read the database (covered by the tests on real databases): the one-at-a-time probe, the write-back. */
const databaseSteps = ['Check no other action is under way on the VM', 'Write back delegated mounts'];

/** Runs the recipe's steps, but for the database ones, like the runner. */
async function runSteps<P, S>(recipe: Recipe<P, S>, rawParams: unknown, script: ScriptedStep[]): Promise<Run> {
  const exec = scriptedExec(script);
  const log: string[] = [];
  const params = recipe.params.parse(rawParams);
  const state = {} as Partial<S>;
  for (const step of recipe.steps.filter((candidate) => !databaseSteps.includes(candidate.name))) {
    const ctx = { ...context<P, S>(params, exec, log), state };
    if (await step.check(ctx)) {
      log.push(`[${step.name}] already done`);
      continue;
    }
    await step.apply(ctx);
    await step.verify(ctx);
  }
  expect(exec.pending).toEqual([]);
  return { log, exec };
}

const vm = { vmId: ID, vmName: 'web-1' };

describe('VM lifecycle recipes on a scripted libvirt host', () => {
  it('starts a stopped VM: looks, starts, looks again', async () => {
    const { log } = await runSteps(lifecycleRecipes.start, vm, [
      LOCATE,
      info(dominfo('shut off')),
      // apply: the driver's own guard, then start
      info(dominfo('shut off')),
      virsh('start'),
      info(dominfo('running')),
    ]);
    expect(log).toContain('web-1 is running (running).');
  });

  it('starting a running VM is success without touching it', async () => {
    const { log, exec } = await runSteps(lifecycleRecipes.start, vm, [LOCATE, info(dominfo('running'))]);
    expect(log[0]).toBe('web-1 is already running (running): nothing to do.');
    expect(exec.calls.map((call) => call.command).some((command) => command.includes(' start '))).toBe(false);
  });

  it('refuses to suspend a stopped VM, in words', async () => {
    await expect(runSteps(lifecycleRecipes.suspend, vm, [LOCATE, info(dominfo('shut off'))])).rejects.toThrow(
      new StepFailed('web-1 is stopped; nothing to suspend.'),
    );
  });

  it('suspends with managedsave and sees the saved state', async () => {
    await runSteps(lifecycleRecipes.suspend, vm, [
      LOCATE,
      info(dominfo('running')),
      info(dominfo('running')),
      virsh('managedsave'),
      info(dominfo('shut off', { managedSave: true })),
    ]);
  });

  it('resumes a saved VM with start and a paused one with resume', async () => {
    await runSteps(lifecycleRecipes.resume, vm, [
      LOCATE,
      info(dominfo('shut off', { managedSave: true })),
      info(dominfo('shut off', { managedSave: true })),
      virsh('start'),
      info(dominfo('running')),
    ]);
    await runSteps(lifecycleRecipes.resume, vm, [LOCATE, info(dominfo('paused')), info(dominfo('paused')), virsh('resume'), info(dominfo('running'))]);
  });

  it('names a VM deleted on the host behind Boxyard’s back', async () => {
    await expect(runSteps(lifecycleRecipes.stop, vm, [LOCATE, info(failed(1, `error: failed to get domain '${ID}'`))])).rejects.toThrow(
      new StepFailed('the VM web-1 no longer exists on host kvm1'),
    );
  });

  it('stop: a guest that does not shut down in time is powered off, and the log says so', async () => {
    const { log } = await runSteps(lifecycleRecipes.stop, { ...vm, stopTimeoutSeconds: 2 }, [
      LOCATE,
      info(dominfo('running')),
      info(dominfo('running')),
      virsh('shutdown'),
      info(dominfo('running')),
      info(dominfo('running')),
      info(dominfo('running')),
      virsh('destroy'),
      info(dominfo('shut off')),
    ]);
    expect(log).toContain('web-1 did not shut down within 2 s: it was powered off (forced).');
  }, 10_000);

  it('stop: a guest that shuts down by itself is graceful', async () => {
    const { log } = await runSteps(lifecycleRecipes.stop, vm, [
      LOCATE,
      info(dominfo('running')),
      info(dominfo('running')),
      virsh('shutdown'),
      info(dominfo('shut off')),
      info(dominfo('shut off')),
    ]);
    expect(log).toContain('web-1 shut down by itself (graceful).');
  });

  it('a virsh failure surfaces as the tool’s own reason', async () => {
    await expect(
      runSteps(lifecycleRecipes.pause, vm, [
        LOCATE,
        info(dominfo('running')),
        info(dominfo('running')),
        virsh('suspend', failed(1, 'error: Failed to suspend domain web-1\nerror: internal error: no monitor')),
      ]),
    ).rejects.toThrow('Pausing web-1 failed on host kvm1: internal error: no monitor');
  });

  it('a wake-up action of a VM that is not a box skips the SSH wait', async () => {
    const { log } = await runSteps(lifecycleRecipes.restart, vm, [LOCATE, info(dominfo('running')), info(dominfo('running')), virsh('reboot'), info(dominfo('running'))]);
    expect(log.at(-2)).toBe('This VM is not a box: no SSH to wait for.');
  });

  it('job params start with the VM id, which is how jobs on one VM are found', () => {
    const params: VmActionParams = vmActionParams.parse({ vmName: 'web-1', vmId: ID });
    expect(JSON.stringify(params).startsWith(`{"vmId":"${ID}"`)).toBe(true);
  });
});

describe('the rules the buttons and refusals follow', () => {
  it('offers only what the state allows', () => {
    expect(availableActions('running', { canPause: true })).toEqual(['stop', 'suspend', 'restart', 'pause']);
    expect(availableActions('stopped', { canPause: true })).toEqual(['start']);
    expect(availableActions('suspended', { canPause: true })).toEqual(['resume']);
    expect(availableActions('paused', { canPause: true })).toEqual(['stop', 'resume']);
    expect(availableActions('running', { canPause: false })).toEqual(['stop', 'suspend', 'restart']);
  });

  it('words refusals for the user', () => {
    expect(refusal('suspend', 'web-1', 'stopped')).toBe('web-1 is stopped; nothing to suspend.');
    expect(refusal('start', 'web-1', 'running')).toBeNull();
    expect(refusal('resume', 'web-1', 'stopped')).toBe('web-1 is stopped; nothing to resume (start it instead).');
  });
});

describe('the new-box-from-template recipe on a scripted libvirt host', () => {
  const params = { templateId: ID, templateName: 'tmpl', vmName: 'web-2', address: { mode: 'manual', host: '127.0.0.1', port: 2222 } };
  const cloneCommand = `virt-clone --original 'tmpl' --name 'web-2' --auto-clone`;

  it('refuses a clone whose name is taken', async () => {
    const exec = scriptedExec([LOCATE, { command: `LC_ALL=C virsh domuuid --domain 'web-2'`, result: ok('x\n') }]);
    const ctx = context<unknown, object>(cloneParams.parse(params), exec, []);
    await expect(cloneRecipe.steps[0]!.apply(ctx as never)).rejects.toThrow('A VM named web-2 already exists on host kvm1.');
  });

  it('turns a full disk into a plain sentence', async () => {
    const exec = scriptedExec([
      LOCATE,
      { command: `LC_ALL=C virsh domuuid --domain 'web-2'`, result: failed(1, "error: failed to get domain 'web-2'") },
      { command: `command -v 'virt-clone'`, result: ok('/usr/bin/virt-clone\n') },
      { command: cloneCommand, result: failed(1, 'ERROR    Couldn\'t create storage volume: No space left on device') },
    ]);
    const ctx = context<unknown, object>(cloneParams.parse(params), exec, []);
    await expect(cloneRecipe.steps[0]!.apply(ctx as never)).rejects.toThrow(/^Not enough disk space on host kvm1 to clone tmpl: Cloning tmpl failed on host kvm1: .*No space left on device/);
  });
});

import { describe, expect, it } from 'vitest';
import { AppError, isAppError } from '../errors';
import {
  driverContext,
  guardTransition,
  normalizeAddress,
  parsePsCpuTime,
  pickGuestAddress,
  stopThenForce,
  toolReason,
  validateResources,
  type GuardedAction,
} from './common';
import type { VmState } from './driver';
import { fakeClock } from '../../testing/helpers/clock';
import { scriptedExec } from '../../testing/helpers/hypervisors';
import { capabilitiesOf } from './factory';

const vm = { id: 'id-1', name: 'dev box' };

function refusal(action: GuardedAction, state: VmState): string | null {
  try {
    guardTransition(action, vm, state);
    return null;
  } catch (error) {
    expect(isAppError(error, 'CONFLICT')).toBe(true);
    return (error as AppError).message;
  }
}

describe('guardTransition', () => {
  it.each<[GuardedAction, VmState, string | null]>([
    ['start', 'running', 'dev box is already running.'],
    ['start', 'paused', 'dev box is paused: resume it instead of starting it.'],
    ['start', 'stopped', null],
    ['start', 'suspended', null],
    ['start', 'unknown', null],
    ['stop', 'stopped', 'dev box is already stopped.'],
    ['stop', 'running', null],
    ['stop', 'paused', null],
    ['suspend', 'stopped', 'dev box is stopped: only a running VM can be suspended.'],
    ['suspend', 'suspended', 'dev box is already suspended.'],
    ['suspend', 'running', null],
    ['pause', 'stopped', 'dev box is stopped: only a running VM can be paused.'],
    ['pause', 'running', null],
    ['resume', 'running', 'dev box is already running.'],
    ['resume', 'stopped', 'dev box is stopped: start it instead of resuming it.'],
    ['resume', 'suspended', null],
    ['resume', 'paused', null],
    ['restart', 'stopped', 'dev box is stopped: start it instead of restarting it.'],
    ['restart', 'running', null],
    ['reconfigure', 'running', 'dev box is running: stop it before changing its CPUs or memory.'],
    ['reconfigure', 'stopping', 'dev box is shutting down: stop it before changing its CPUs or memory.'],
    ['reconfigure', 'unknown', 'dev box is in an unknown state: stop it before changing its CPUs or memory.'],
    ['reconfigure', 'stopped', null],
  ])('%s when %s → %j', (action, state, expected) => {
    expect(refusal(action, state)).toBe(expected);
  });
});

describe('pickGuestAddress', () => {
  it.each<[string[], string | null]>([
    [['10.211.55.66'], '10.211.55.66'],
    [['-'], null],
    [[''], null],
    [['192.168.122.3/24'], '192.168.122.3'],
    // Parallels: IPv4-mapped IPv6 with a trailing dot (jkmassel/prlctl vm-list.json).
    [['0:0:0:0:0:FFFF:0AD3:3742.'], '10.211.55.66'],
    [['::ffff:10.0.0.7'], '10.0.0.7'],
    [['fe80::474:17c:98d7:a0b9'], null],
    [['169.254.3.4', '10.211.55.9'], '10.211.55.9'],
    [['fe80::1', '2001:db8::5', '10.1.2.3'], '10.1.2.3'],
    [['fe80::1', '2001:db8::5/64'], '2001:db8::5'],
    [['127.0.0.1', '::1', '0.0.0.0'], null],
  ])('%j → %j', (candidates, expected) => {
    expect(pickGuestAddress(candidates)).toBe(expected);
  });

  it('leaves ordinary addresses alone', () => {
    expect(normalizeAddress(' 2001:db8::1 ')).toBe('2001:db8::1');
  });
});

describe('parsePsCpuTime', () => {
  it.each<[string, number | null]>([
    ['00:00:02', 2], // procps, as `ps -o time= -p 1` printed on this Debian machine
    ['01:02:03', 3723],
    ['2-01:00:00', 176_400],
    ['1:02.50', 62.5], // BSD/macOS minutes:seconds.hundredths
    ['125:00.00', 7500],
    ['', null],
    ['garbage', null],
  ])('%j → %j', (text, expected) => {
    expect(parsePsCpuTime(text)).toBe(expected);
  });
});

describe('driverContext', () => {
  it('names the host in messages, or says "the host" without a name', () => {
    expect(driverContext(scriptedExec([]), { hostName: 'mini' }).where).toBe('host mini');
    expect(driverContext(scriptedExec([])).where).toBe('the host');
  });
});

describe('toolReason', () => {
  it('takes the last stderr line without virsh’s "error:" prefix', () => {
    expect(toolReason({ stdout: '', stderr: "error: Failed to destroy domain 'test'\nerror: Requested operation is not valid: domain is not running\n" })).toBe(
      'Requested operation is not valid: domain is not running',
    );
  });
});

describe('validateResources', () => {
  it.each([{}, { cpus: 0 }, { cpus: 1.5 }, { memoryMiB: 10 }, { memoryMiB: Number.NaN }])('refuses %j', (change) => {
    expect(() => validateResources(change)).toThrowError(AppError);
  });

  it('accepts whole numbers', () => {
    expect(() => validateResources({ cpus: 4, memoryMiB: 8192 })).not.toThrow();
  });
});

describe('stopThenForce', () => {
  it('forces the VM off when the polite request itself fails, without waiting', async () => {
    const clock = fakeClock();
    const ctx = driverContext(scriptedExec([]), { clock });
    const forced: string[] = [];
    const result = await stopThenForce(
      ctx,
      {
        requestShutdown: async () => {
          throw new AppError('SSH_TIMEOUT', 'the command did not finish');
        },
        readState: async () => 'running',
        forceOff: async () => {
          forced.push('off');
        },
      },
      30_000,
    );
    expect(result).toEqual({ outcome: 'forced' });
    expect(forced).toEqual(['off']);
    expect(clock.slept).toEqual([]);
  });

  it('lets connection failures through', async () => {
    const ctx = driverContext(scriptedExec([]), { clock: fakeClock() });
    const steps = {
      requestShutdown: async () => {
        throw new AppError('SSH_UNREACHABLE', 'connection refused');
      },
      readState: async (): Promise<VmState> => 'running',
      forceOff: async () => {},
    };
    await expect(stopThenForce(ctx, steps, 1_000)).rejects.toMatchObject({ code: 'SSH_UNREACHABLE' });
  });
});

describe('capabilitiesOf', () => {
  it('says what each kind’s driver can do, and refuses an unknown kind by name', () => {
    expect(capabilitiesOf('libvirt')).toMatchObject({ vms: true, pause: true, hostCpuInOneCall: true, sharedFolders: { transports: ['9p', 'virtiofs'], inPersistentConfig: true } });
    expect(capabilitiesOf('parallels')).toMatchObject({ vms: true, pause: true, hostCpuInOneCall: false, sharedFolders: { transports: ['parallels'], inPersistentConfig: false } });
    expect(capabilitiesOf('utm').sharedFolders.byHandOnly).toMatch(/^UTM's command-line tool cannot share folders/);
    expect(capabilitiesOf('ssh')).toMatchObject({ vms: false, pause: false, hostPower: true });
    expect(() => capabilitiesOf('vmware')).toThrow(/Unknown hypervisor kind "vmware"/);
  });
});

import { AppError } from '../errors';
import { hypervisorKinds, type DriverOptions, type HostExec, type HypervisorDriver, type HypervisorKind } from './driver';
import { LibvirtDriver, type LibvirtDriverOptions } from './libvirt';
import { ParallelsDriver } from './parallels';
import { SshOnlyDriver } from './ssh-only';
import { UtmDriver } from './utm';

export function isHypervisorKind(kind: string): kind is HypervisorKind {
  return (hypervisorKinds as readonly string[]).includes(kind);
}

/** The driver for a host's kind (a string from the database or a form); an unknown kind is refused by name. */
export function createDriver(kind: 'ssh', exec: HostExec, options?: DriverOptions): SshOnlyDriver;
export function createDriver(kind: string, exec: HostExec, options?: LibvirtDriverOptions): HypervisorDriver;
export function createDriver(kind: string, exec: HostExec, options: LibvirtDriverOptions = {}): HypervisorDriver {
  if (!isHypervisorKind(kind)) {
    throw new AppError('BAD_INPUT', `Unknown hypervisor kind "${kind}"; Boxyard knows ${hypervisorKinds.join(', ')}.`);
  }
  switch (kind) {
    case 'libvirt':
      return new LibvirtDriver(exec, options);
    case 'parallels':
      return new ParallelsDriver(exec, options);
    case 'utm':
      return new UtmDriver(exec, options);
    case 'ssh':
      return new SshOnlyDriver(exec, options);
  }
}

import { AppError } from '../errors';
import { hypervisorKinds, type DriverCapabilities, type DriverOptions, type HostExec, type HypervisorDriver, type HypervisorKind } from './driver';
import { libvirtCapabilities, LibvirtDriver, type LibvirtDriverOptions } from './libvirt';
import { parallelsCapabilities, ParallelsDriver } from './parallels';
import { sshOnlyCapabilities, SshOnlyDriver } from './ssh-only';
import { utmCapabilities, UtmDriver } from './utm';

export function isHypervisorKind(kind: string): kind is HypervisorKind {
  return (hypervisorKinds as readonly string[]).includes(kind);
}

const capabilitiesByKind: Record<HypervisorKind, DriverCapabilities> = {
  libvirt: libvirtCapabilities,
  parallels: parallelsCapabilities,
  utm: utmCapabilities,
  ssh: sshOnlyCapabilities,
};

/** A kind from the database or a form, checked; an unknown kind is refused by name. */
function knownKind(kind: string): HypervisorKind {
  if (!isHypervisorKind(kind)) {
    throw new AppError('BAD_INPUT', `Unknown hypervisor kind "${kind}"; Boxyard knows ${hypervisorKinds.join(', ')}.`);
  }
  return kind;
}

/** What the driver of a host's kind can do, without an SSH connection (for rules and the browser's host view). */
export function capabilitiesOf(kind: string): DriverCapabilities {
  return capabilitiesByKind[knownKind(kind)];
}

/** The driver for a host's kind (a string from the database or a form); an unknown kind is refused by name. */
export function createDriver(kind: 'ssh', exec: HostExec, options?: DriverOptions): SshOnlyDriver;
export function createDriver(kind: string, exec: HostExec, options?: LibvirtDriverOptions): HypervisorDriver;
export function createDriver(kind: string, exec: HostExec, options: LibvirtDriverOptions = {}): HypervisorDriver {
  switch (knownKind(kind)) {
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

import type { JobStatus } from './job-status';
import type { SessionState } from './terminal-protocol';
import type { BoxStatus, HypervisorKind, MountMode, MountTransport } from './validation';

/**
 * The human word for every status and kind the dashboard shows: one place, so a page never prints a raw enum value
 * ("host-key-mismatch", "parallels"). Each group is named after the list it words (`boxStatuses` words
 * lib/validation's `boxStatuses`); words.test.ts checks that every value of every list in lib/ (and the server's
 * lists the pages show: VM states, step statuses, roles, job kinds) has its word here.
 */
export const words = {
  boxStatuses: {
    unknown: 'checking…',
    online: 'online',
    unreachable: 'unreachable',
    'auth-failed': 'sign-in refused',
    'host-key-mismatch': 'host key changed',
  } satisfies Record<BoxStatus, string>,
  hypervisorKinds: {
    libvirt: 'libvirt (KVM)',
    parallels: 'Parallels Desktop',
    utm: 'UTM',
    ssh: 'plain SSH (VPS)',
  } satisfies Record<HypervisorKind, string>,
  jobStatuses: {
    queued: 'queued',
    running: 'running',
    succeeded: 'succeeded',
    failed: 'failed',
    cancelled: 'cancelled',
  } satisfies Record<JobStatus, string>,
  /** A job's step (server/jobs/journal.ts StepStatus). */
  stepStatuses: {
    pending: 'waiting',
    running: 'running',
    succeeded: 'succeeded',
    failed: 'failed',
    skipped: 'skipped',
  } as Record<string, string>,
  sessionStates: {
    starting: 'starting',
    ready: 'open',
    closing: 'closing',
    done: 'closed',
  } satisfies Record<SessionState, string>,
  mountModes: {
    consistent: 'consistent',
    cached: 'cached (host wins)',
    delegated: 'delegated (guest wins)',
  } satisfies Record<MountMode, string>,
  mountTransports: {
    '9p': '9p (virtio)',
    virtiofs: 'virtiofs',
    parallels: 'Parallels shared folders',
    nfs: 'NFS',
    sshfs: 'SSHFS',
    mutagen: 'Mutagen sync',
  } satisfies Record<MountTransport, string>,
  /** server/hypervisors/driver.ts vmStates. */
  vmStates: {
    running: 'running',
    stopped: 'stopped',
    suspended: 'suspended',
    paused: 'paused',
    starting: 'starting',
    stopping: 'stopping',
    unknown: 'unknown',
  } as Record<string, string>,
  /** server/auth/auth.ts roles. */
  roles: { admin: 'admin', developer: 'developer' } as Record<string, string>,
  /** Each job recipe's kind (the runner's recipes, services.ts). */
  jobKinds: {
    docker: 'Docker provisioning',
    'mounts.apply': 'apply mounts',
    'mounts.measure': 'measure mounts',
    'vm.clone-box': 'new VM box',
    'vm.start': 'VM start',
    'vm.stop': 'VM stop',
    'vm.suspend': 'VM suspend',
    'vm.resume': 'VM resume',
    'vm.restart': 'VM restart',
    'vm.pause': 'VM pause',
    'box.reboot': 'reboot',
    'box.poweroff': 'power off',
  } as Record<string, string>,
};

export type WordGroup = keyof typeof words;

/** The word for `value` in `group`; a value the map does not know yet is shown as it is (words.test.ts catches it). */
export function word(group: WordGroup, value: string): string {
  return (words[group] as Record<string, string>)[value] ?? value;
}

// Shared by the server/ssh tests: targets for lab boxes (real sshd in Docker, see testing/lab/lab.ts).
import type { LabBox } from '../lab/lab';
import type { SshAuth, SshTarget } from '../../server/ssh/pool';

/** A target for a lab box, logging in with the lab's authorized key unless another auth is given. */
export function labTarget(box: LabBox, overrides: Partial<SshTarget> & { auth?: SshAuth } = {}): SshTarget {
  return {
    host: box.host,
    port: box.port,
    username: box.user,
    auth: { kind: 'key', privateKey: box.privateKey },
    ...overrides,
  };
}

/** Generous: the first test run builds the lab image (debootstrap), later runs start a box in about a second. */
export const LAB_START_TIMEOUT_MS = 600_000;

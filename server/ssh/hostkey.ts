import { createHash } from 'node:crypto';
import type { ServerHostKeyAlgorithm } from 'ssh2';
import { AppError } from '../errors';

/** A host key as the dashboard stores it: the fingerprint is what gets compared, the algorithm is a hint. */
export interface HostKeyInfo {
  /** OpenSSH form, as `ssh-keygen -lf` prints it: "SHA256:" + unpadded base64 of sha256(key blob). */
  fingerprint: string;
  /** Key type from the blob, e.g. "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa". */
  algorithm: string;
  /** The key blob in base64, the last field of a known_hosts line (what the CLI writes for the laptop's ssh). */
  blob: string;
}

/** Fingerprint of an SSH public key blob (wire format), identical to OpenSSH's default SHA256 fingerprint. */
export function sshFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named at the start of a public key blob (a uint32 length, then the name). */
export function keyBlobAlgorithm(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const length = keyBlob.readUInt32BE(0);
  if (length === 0 || length > 64 || keyBlob.length < 4 + length) return 'unknown';
  return keyBlob.subarray(4, 4 + length).toString('latin1');
}

export function describeHostKey(keyBlob: Buffer): HostKeyInfo {
  return { fingerprint: sshFingerprint(keyBlob), algorithm: keyBlobAlgorithm(keyBlob), blob: keyBlob.toString('base64') };
}

/** The box offered a different host key than the pinned one. `offered` is what an admin would re-pin to. */
export class HostKeyMismatchError extends AppError {
  readonly expected: string;
  readonly offered: HostKeyInfo;

  constructor(where: string, expected: string, offered: HostKeyInfo) {
    super(
      'SSH_HOST_KEY_MISMATCH',
      `host key changed: expected ${expected}, got ${offered.fingerprint} (${where}). ` +
        'Nothing was run on the box. If the box was rebuilt or its keys regenerated, an admin should check the new ' +
        'fingerprint on the box (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) and re-pin it; otherwise someone may be ' +
        'intercepting the connection.',
      { internal: `offered ${offered.algorithm} ${offered.fingerprint}, pinned ${expected}` },
    );
    this.name = 'HostKeyMismatchError';
    this.expected = expected;
    this.offered = offered;
  }
}

/**
 * Pinning host-key check for one connection attempt. With a pin, only that fingerprint is accepted; without one,
 * the first key offered is accepted and reported through `offered` for the caller to persist (trust on first use).
 * ssh2 only reports a refusal as "Host denied (verification failed)", so the caller asks `mismatch` afterwards to
 * raise the real reason.
 */
export class HostKeyVerifier {
  private offeredKey: HostKeyInfo | null = null;
  private mismatchError: HostKeyMismatchError | null = null;

  constructor(
    private readonly pinnedFingerprint: string | null,
    private readonly where: string,
  ) {}

  /** For ssh2's `hostVerifier` option (called with the raw key blob since `hostHash` is not set). */
  readonly verify = (keyBlob: Buffer): boolean => {
    const offered = describeHostKey(keyBlob);
    this.offeredKey = offered;
    if (this.pinnedFingerprint === null || offered.fingerprint === this.pinnedFingerprint) return true;
    this.mismatchError = new HostKeyMismatchError(this.where, this.pinnedFingerprint, offered);
    return false;
  };

  /** The key the box presented (null before the key exchange got that far). */
  get offered(): HostKeyInfo | null {
    return this.offeredKey;
  }

  /** True when nothing was pinned and this connection accepted a key: the caller should store `offered`. */
  get pinnedNow(): boolean {
    return this.pinnedFingerprint === null && this.offeredKey !== null && this.mismatchError === null;
  }

  /** True when the offered key is the pinned one (so `offered` is the full pinned key). */
  get matchedPin(): boolean {
    return this.pinnedFingerprint !== null && this.offeredKey?.fingerprint === this.pinnedFingerprint;
  }

  get mismatch(): HostKeyMismatchError | null {
    return this.mismatchError;
  }
}

/**
 * Host key algorithms to offer, most preferred first. When a key type is pinned it goes first, so a box holding
 * several host keys keeps presenting the pinned one instead of failing the pin after a preference change.
 */
export function hostKeyAlgorithmsFor(pinnedKeyType?: string | null): ServerHostKeyAlgorithm[] {
  const defaults: ServerHostKeyAlgorithm[] = [
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
    'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521',
    'rsa-sha2-512',
    'rsa-sha2-256',
    'ssh-rsa',
  ];
  // An "ssh-rsa" blob is signed with rsa-sha2-* by modern servers; the key type and signature names differ.
  const preferred = pinnedKeyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [pinnedKeyType];
  const first = defaults.filter((name) => preferred.includes(name));
  return [...first, ...defaults.filter((name) => !first.includes(name))];
}

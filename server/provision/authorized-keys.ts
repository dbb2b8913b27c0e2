import { createHash } from 'node:crypto';
import { boxDeveloperKeys, type BoxDeveloperKey } from '../access-keys/ssh-keys';
import { ManagedBlockError, replaceManagedBlock } from '../connect/managed-block';
import { boxOf, StepFailed, type Step, type StepContext } from '../jobs/recipe';
import { sh, type ShellCommand } from '../ssh/quote';

/**
 * The "Install developer keys" step: the SSH public keys of a box's owner and members (their profile pages) go into
 * the box user's ~/.ssh/authorized_keys, between two marker lines. Only that block is rewritten; every other line,
 * the dashboard's own key included, stays byte for byte. Keys are installed for the box's SSH user, the account
 * developers share on the box; an AuthorizedKeysFile other than the default is not looked at.
 */

const authorizedKeysMarkers = {
  begin: '# BEGIN boxyard managed keys (do not edit)',
  end: '# END boxyard managed keys',
} as const;

/** One authorized_keys line per key; the comment says whose key it is, for whoever reads the file on the box. */
function authorizedKeyLine(key: BoxDeveloperKey): string {
  const [type, base64] = key.publicKey.split(' ');
  return `${type} ${base64} ${key.email}: ${key.keyName}`;
}

/**
 * `existing` with the managed block holding exactly `keys` (removed when there are none). Throws StepFailed when the
 * markers are duplicated or unbalanced: guessing which lines are ours could drop someone's access.
 */
export function renderAuthorizedKeys(existing: string, keys: readonly string[]): string {
  try {
    return replaceManagedBlock(existing, authorizedKeysMarkers, keys);
  } catch (error) {
    if (error instanceof ManagedBlockError) throw new StepFailed(`~/.ssh/authorized_keys cannot be updated safely: ${error.message}`);
    throw error;
  }
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

const NO_FILE = 3;
const CHANGED_MEANWHILE = 4;
const STDIN_NOT_RECEIVED = 5;

/** Prints the box user's authorized_keys; exits NO_FILE when there is none yet. */
const readAuthorizedKeysCommand: ShellCommand = sh`f="$HOME/.ssh/authorized_keys"; if [ -e "$f" ]; then cat -- "$f"; else exit ${NO_FILE}; fi`;

/**
 * Replaces authorized_keys atomically with the content fed on stdin (a temporary file in ~/.ssh, then mv), creating
 * ~/.ssh (700) if missing; the file is written 600. Two checks make it refuse rather than damage the file: the file
 * must still be the one read (sha256 `previous`, or "missing"), and what arrived on stdin must hash to `next`.
 */
function writeAuthorizedKeysCommand(previous: string | null, next: string): ShellCommand {
  return sh`umask 077; d="$HOME/.ssh"; f="$d/authorized_keys"; t="$d/.authorized_keys.boxyard-tmp"
[ -d "$d" ] || mkdir -m 700 -- "$d" || exit 1
if [ -e "$f" ]; then now=$(sha256sum < "$f" | cut -d ' ' -f 1); else now=missing; fi
[ "$now" = ${previous === null ? 'missing' : sha256(previous)} ] || exit ${CHANGED_MEANWHILE}
cat > "$t" || exit 1
[ "$(sha256sum < "$t" | cut -d ' ' -f 1)" = ${sha256(next)} ] || { rm -f -- "$t"; exit ${STDIN_NOT_RECEIVED}; }
chmod 600 "$t" && mv -f -- "$t" "$f"`;
}

const QUICK_MS = 30_000;

interface Plan {
  /** The file as it is; null when missing. */
  current: string | null;
  wanted: string;
  keys: BoxDeveloperKey[];
}

async function plan(ctx: StepContext<unknown, object>): Promise<Plan> {
  const read = await ctx.exec(readAuthorizedKeysCommand, { timeoutMs: QUICK_MS });
  if (read.code !== 0 && read.code !== NO_FILE) throw new StepFailed(`could not read ~/.ssh/authorized_keys: ${read.stderr.trim() || `exit ${read.code}`}`);
  const current = read.code === NO_FILE ? null : read.stdout;
  // Output is decoded as UTF-8: bytes that are not would be rewritten as U+FFFD, so such a file is left alone.
  if (current?.includes('\uFFFD')) throw new StepFailed('~/.ssh/authorized_keys holds bytes that are not UTF-8 text; fix it by hand, Boxyard leaves it alone');
  const keys = await boxDeveloperKeys(ctx.db, boxOf(ctx).id);
  return { current, wanted: renderAuthorizedKeys(current ?? '', keys.map(authorizedKeyLine)), keys };
}

const inPlace = (plan: Plan) => plan.wanted === (plan.current ?? '');

export const installDeveloperKeys: Step<unknown, object> = {
  name: 'Install developer keys',
  async check(ctx) {
    return inPlace(await plan(ctx));
  },
  async apply(ctx) {
    const planned = await plan(ctx);
    if (inPlace(planned)) return;
    const written = await ctx.exec(writeAuthorizedKeysCommand(planned.current, planned.wanted), { timeoutMs: QUICK_MS, stdin: planned.wanted });
    if (written.code === CHANGED_MEANWHILE) throw new StepFailed('~/.ssh/authorized_keys changed while it was being updated; run the job again');
    if (written.code === STDIN_NOT_RECEIVED) {
      throw new StepFailed('the new ~/.ssh/authorized_keys did not reach the box on stdin (the connection dropped?); nothing was changed');
    }
    if (written.code !== 0) throw new StepFailed(`could not write ~/.ssh/authorized_keys: ${written.stderr.trim() || `exit ${written.code}`}`);
    const owners = [...new Set(planned.keys.map((key) => key.email))];
    await ctx.log(
      planned.keys.length
        ? `Installed ${planned.keys.length} key(s) of ${owners.join(', ')} for ${boxOf(ctx).sshUser}.`
        : `No developer keys for this box: removed the managed block from ${boxOf(ctx).sshUser}'s authorized_keys.`,
    );
  },
  async verify(ctx) {
    if (!inPlace(await plan(ctx))) {
      throw new StepFailed('~/.ssh/authorized_keys does not hold the keys just written (changed by something else meanwhile?)');
    }
  },
};

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { sh, type ShellCommand } from '../ssh/quote';
import { bashSamplerCommand } from './script';

/**
 * The compiled sampler (sampler-c/boxyard-sampler.c, built by scripts/build-sampler.sh) and how it gets to a box.
 *
 * Why: a sample made by bash costs the box ~0.5 ms of CPU (its interpreter), the compiled one a few microseconds, so
 * monitoring costs the box mostly sshd's share (bench/monitor-cost.ts). The bash sampler stays as the fallback for
 * an architecture without a build, a box where the upload fails, or a home folder mounted noexec: same output,
 * parsed by the same code.
 *
 * The box keeps its copy in ~/.cache/boxyard under a name made of the build's SHA-256, so a dashboard restart does
 * not upload again and a new build never runs an old copy. Uploads are checked with sha256sum on the box before the
 * file takes its name.
 */
export interface CompiledSampler {
  /** `uname -m` of the boxes it runs on. */
  arch: 'x86_64' | 'aarch64';
  sha256: string;
  bytes: Buffer;
  /**
   * What goes over the wire (static builds are ~0.7-0.8 MB, ~0.3 MB gzipped; gzip is on every Debian/Ubuntu box).
   * Compressed at the first upload, not at start-up: level 9 of both builds took ~0.25 s of every start.
   */
  readonly gzipped: Buffer;
}

const ARCH_PATTERNS: Record<CompiledSampler['arch'], string> = { x86_64: 'x86_64', aarch64: 'aarch64|arm64' };

export const COMPILED_SAMPLER_DIR = fileURLToPath(new URL('./sampler-c/dist/', import.meta.url));

/** Exit status of the start command when the box has no copy yet: the dashboard uploads one and starts again. */
export const UPLOAD_NEEDED_EXIT = 86;

/** The builds present in `dir`; an architecture without one is simply absent (its boxes get the bash sampler). */
export function loadCompiledSamplers(dir = COMPILED_SAMPLER_DIR): CompiledSampler[] {
  const found: CompiledSampler[] = [];
  for (const arch of Object.keys(ARCH_PATTERNS) as CompiledSampler['arch'][]) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(`${dir}/boxyard-sampler-${arch}`);
    } catch {
      continue;
    }
    let gzipped: Buffer | undefined;
    found.push({
      arch,
      bytes,
      get gzipped() {
        return (gzipped ??= gzipSync(bytes, { level: 9 }));
      },
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
  }
  return found;
}

/** The build for a box whose `uname -m` is this (the names the start command's case arms accept), if any. */
export function buildFor(compiled: readonly CompiledSampler[], unameArch: string): CompiledSampler | undefined {
  return compiled.find((c) => ARCH_PATTERNS[c.arch].split('|').includes(unameArch));
}

/** Where the box keeps a build, relative to its home folder. */
export function boxCopyPath(sampler: CompiledSampler): string {
  return `.cache/boxyard/boxyard-sampler-${sampler.sha256.slice(0, 16)}`;
}

/**
 * The one command that starts a box's sampler: the compiled build for the box's architecture when there is one;
 * without a copy on the box it prints `W <arch>` and exits UPLOAD_NEEDED_EXIT; a copy the box cannot execute is
 * removed (a damaged one is uploaded again by the next dashboard start), it prints `F <reason>` and the bash sampler
 * runs instead. Runs in the login shell, so POSIX sh only.
 */
export function samplerCommand(compiled: readonly CompiledSampler[], intervalSeconds: number, diskEverySeconds: number): ShellCommand {
  const bash = bashSamplerCommand(intervalSeconds, diskEverySeconds);
  if (compiled.length === 0) return bash;
  // Each architecture name is one quoted word of the case pattern: 'aarch64'|'arm64').
  const arms = compiled.map((c) => sh`${sh.join(ARCH_PATTERNS[c.arch].split('|').map((name) => sh`${name}`), sh`|`)}) f=${boxCopyPath(c)};;`);
  const args = [String(intervalSeconds), String(diskEverySeconds)];
  return sh`f=; case "$(uname -m)" in ${arms} esac
if [ -n "$f" ]; then
  [ -f "$HOME/$f" ] || { echo "W $(uname -m)"; exit ${UPLOAD_NEEDED_EXIT}; }
  if "$HOME/$f" --check >/dev/null 2>&1; then exec "$HOME/$f" ${args}; fi
  rm -f "$HOME/$f"
  echo "F the box cannot execute the compiled sampler in ~/.cache/boxyard (a noexec home folder?)"
fi
${bash}`;
}

/** Reads the gzipped build on stdin, checks what it unpacks to, and gives it its name (removing other builds' copies). */
export function uploadCommand(sampler: CompiledSampler): ShellCommand {
  const path = boxCopyPath(sampler);
  return sh`umask 077; d="$HOME/.cache/boxyard"; mkdir -p "$d" && t=$(mktemp "$d/.upload.XXXXXX") || exit 1
if gzip -dc > "$t" && printf '%s  %s\\n' ${sampler.sha256} "$t" | sha256sum -c --status; then
  chmod 700 "$t"
  for o in "$d"/boxyard-sampler-*; do [ "$o" = "$HOME/"${path} ] || rm -f "$o"; done
  mv -f "$t" "$HOME/"${path}
else
  rm -f "$t"; echo "the upload did not arrive intact (or gzip or sha256sum is missing)" >&2; exit 1
fi`;
}

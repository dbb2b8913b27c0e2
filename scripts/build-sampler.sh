#!/usr/bin/env bash
# Builds the compiled box sampler (server/metrics/sampler-c/boxyard-sampler.c) for the box architectures Boxyard
# ships it to: x86_64 (VPS, Linux hypervisors) and aarch64 (Parallels/UTM VMs on Apple silicon). Static, so it runs
# on any Linux box of that architecture whatever its libc. Output: server/metrics/sampler-c/dist/boxyard-sampler-ARCH
# (gitignored). An architecture without a compiler here is skipped with a warning: its boxes use the bash sampler
# (server/metrics/script.ts), which works everywhere but costs the box more per sample. Called by install.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=server/metrics/sampler-c/boxyard-sampler.c
OUT=server/metrics/sampler-c/dist
CROSS_PACKAGES=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)

compiler_for() {
  local arch=$1
  if [[ $(uname -m) == "$arch" ]]; then echo "${CC:-cc}"; else echo "$arch-linux-gnu-gcc"; fi
}

# The aarch64 cross compiler is a Debian package: installed here when this runs as root with apt (a fresh machine).
if ! command -v aarch64-linux-gnu-gcc >/dev/null && [[ $(uname -m) != aarch64 && $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "==> installing ${CROSS_PACKAGES[*]} (the aarch64 sampler)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${CROSS_PACKAGES[@]}" >/tmp/boxyard-cross-apt.log 2>&1 ||
    echo "build-sampler: apt-get failed (log: /tmp/boxyard-cross-apt.log)" >&2
fi

mkdir -p "$OUT"
for arch in x86_64 aarch64; do
  cc=$(compiler_for "$arch")
  target=$OUT/boxyard-sampler-$arch
  if ! command -v "$cc" >/dev/null; then
    echo "build-sampler: no $cc here: $arch boxes will use the bash sampler" >&2
    rm -f "$target"
    continue
  fi
  if [[ -f $target && $target -nt $SRC && $target -nt "$0" ]]; then continue; fi
  echo "==> sampler for $arch ($cc)"
  # -ffile-prefix-map and no build id: the same source gives the same bytes, so boxes keep their uploaded copy.
  "$cc" -Os -static -s -Wall -Wextra -Werror -ffile-prefix-map="$PWD"=. -Wl,--build-id=none -o "$target.tmp" "$SRC"
  mv -f "$target.tmp" "$target"
done

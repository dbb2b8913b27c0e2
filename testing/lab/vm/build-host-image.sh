#!/usr/bin/env bash
# Builds boxyard-lab-libvirt:bookworm: the lab box image (e2e/lab/build-image.sh) plus virsh and virt-clone, for
# a "lab hypervisor host" (e2e/lab/libvirt-host.ts) that drives THIS machine's libvirtd through its socket.
# apt runs once inside a container and the result is kept with `docker commit`; the image carries a hash of this
# script and of the base image's id, so a changed recipe or base rebuilds it. Idempotent, about 1 s when cached.
set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_DIR=$(dirname "$VM_DIR")
BASE_IMAGE=boxyard-lab:bookworm
IMAGE=boxyard-lab-libvirt:bookworm
started_us=${EPOCHREALTIME/./}

log() {
  local elapsed_ms=$(( (${EPOCHREALTIME/./} - started_us) / 1000 ))
  printf 'build-host-image: %s (%d.%03ds)\n' "$1" $((elapsed_ms / 1000)) $((elapsed_ms % 1000))
}
die() { printf 'build-host-image: ERROR: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null || die "the docker CLI is missing; run scripts/test-deps.sh"
docker info >/dev/null 2>&1 || die "dockerd is not reachable (docker info failed); run scripts/test-deps.sh"
"$LAB_DIR/build-image.sh" >/dev/null
base_id=$(docker image inspect --format '{{.Id}}' "$BASE_IMAGE") || die "$BASE_IMAGE is missing after build-image.sh"
VERSION=$( { cat "$VM_DIR/build-host-image.sh"; echo "$base_id"; } | sha256sum | cut -c1-16)

image_is_current() {
  [[ $(docker image inspect --format '{{index .Config.Labels "boxyard-lab.libvirt-image-version"}}' "$IMAGE" 2>/dev/null) == "$VERSION" ]]
}

if image_is_current; then
  log "$IMAGE is current ($VERSION)"
  exit 0
fi
mkdir -p "$LAB_DIR/.cache"
# Parallel test workers may all call this script: only one builds.
exec 9>"$LAB_DIR/.cache/build-host-image.lock"
flock 9
if image_is_current; then
  log "$IMAGE was built by another process"
  exit 0
fi

builder=boxyard-lab-libvirt-build-$$
trap 'docker rm --force "$builder" >/dev/null 2>&1 || true' EXIT
# virsh and virt-clone run as root through sudo: the machine's libvirtd authorizes non-root clients of its
# read-write socket with polkit, which does not run here, so the dev user cannot connect as itself. The wrappers
# in /usr/local/bin (first in PATH, also for non-interactive SSH commands) make `virsh ...` work for dev as is.
docker run --name "$builder" --entrypoint /bin/bash "$BASE_IMAGE" -c '
  set -euo pipefail
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends libvirt-clients virtinst >/dev/null
  apt-get clean
  for tool in virsh virt-clone; do
    printf "#!/bin/sh\n# dev runs %s as root: libvirtd here authorizes non-root socket clients only through polkit.\nexec sudo -n /usr/bin/%s \"\$@\"\n" "$tool" "$tool" >/usr/local/bin/$tool
    chmod 0755 /usr/local/bin/$tool
  done
' >"$LAB_DIR/.cache/build-host-image.log" 2>&1 || {
  tail -n 30 "$LAB_DIR/.cache/build-host-image.log" >&2
  die "installing libvirt-clients and virtinst in the image failed; full log in $LAB_DIR/.cache/build-host-image.log"
}
log "installed libvirt-clients and virtinst"
previous_image=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
docker commit \
  --change 'ENTRYPOINT ["/usr/bin/tini", "-g", "--", "/usr/local/sbin/boxyard-lab-init"]' \
  --change 'CMD []' \
  --change "LABEL boxyard-lab.libvirt-image-version=$VERSION" \
  "$builder" "$IMAGE" >/dev/null
log "committed $IMAGE ($VERSION)"
if [[ -n $previous_image && $previous_image != $(docker image inspect --format '{{.Id}}' "$IMAGE") ]]; then
  docker image rm "$previous_image" >/dev/null 2>&1 || true
fi

#!/usr/bin/env bash
# Readies this machine's libvirtd for the lab's VMs. Idempotent; needs root only when something must change.
#
# Why the kvm group: QEMU runs as libvirt-qemu. When that user cannot open /dev/kvm, libvirt 9.0 decides its
# cached QEMU capabilities (probed with KVM) are stale on EVERY API call ("KVM was enabled when probing ..., but it
# is not available now") and re-probes QEMU: each define/start then took 30-110 s here instead of 0.1-0.3 s.
# Debian's libvirt-daemon-system adds libvirt-qemu to kvm; the bare libvirt-daemon package used here does not.
# libvirtd re-checks /dev/kvm only when its ctime changes, hence the chmod to the same mode.
set -euo pipefail

say() { printf 'prepare-libvirt: %s\n' "$*"; }
die() { printf 'prepare-libvirt: ERROR: %s\n' "$*" >&2; exit 1; }

if [[ -e /dev/kvm ]] && getent group kvm >/dev/null && id libvirt-qemu >/dev/null 2>&1; then
  if ! id -nG libvirt-qemu | tr ' ' '\n' | grep -qx kvm; then
    [[ $EUID -eq 0 ]] || die "libvirt-qemu must join the kvm group; run as root"
    usermod -aG kvm libvirt-qemu
    chmod "$(stat -c %a /dev/kvm)" /dev/kvm
    say "added libvirt-qemu to the kvm group (libvirtd stops re-probing QEMU on every call)"
  fi
fi
if [[ ! -d /var/lib/boxyard-lab/shares || ! -d /var/lib/boxyard-lab/logs ]]; then
  [[ $EUID -eq 0 ]] || die "creating /var/lib/boxyard-lab needs root"
  install -d -m 0755 /var/lib/boxyard-lab /var/lib/boxyard-lab/shares /var/lib/boxyard-lab/logs /var/lib/boxyard-lab/pool
fi
say "ready"

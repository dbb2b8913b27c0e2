#!/usr/bin/env bash
# Builds the lab's guest VM image ONCE per machine: a Debian bookworm root filesystem (systemd, openssh-server,
# docker.io, apparmor, sudo) as a raw ext4 image, plus the kernel and initramfs of Debian's linux-image-amd64
# (not the cloud kernel: it has no 9p) for direct kernel boot, and an SSH key pair whose public half is baked
# into root's and dev's authorized_keys (so a VM is reachable without any step at boot).
#
# Output: /var/cache/boxyard-lab/vm/<hash of this script>/ (outside the repo; the hash makes a changed recipe
# build a new version beside the old one, whose images may still back running VMs):
#   vmlinuz  initrd.img  root.img (raw ext4, 8 GiB sparse)  lab_ed25519 (0600)  lab_ed25519.pub  build-info
# Idempotent: when the folder is complete (build-info exists) it only prints its path. Fails loudly (non-zero,
# one clear line) when a tool is missing or a step fails. Prints the build time. Needs root (debootstrap).
set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${BOXYARD_LAB_VM_CACHE:-/var/cache/boxyard-lab/vm}
VERSION=$(sha256sum "$VM_DIR/build-vm-image.sh" | cut -c1-16)
OUT=$CACHE_ROOT/$VERSION
MIRROR=${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# systemd-sysv makes systemd PID 1; linux-image-amd64 + initramfs-tools build the initramfs inside the chroot, so
# no kernel package is unpacked by hand (dpkg -x would replace the usr-merged /lib symlink). rsync: Boxyard's
# delegated mounts keep a replica on the guest's disk and write it back with rsync (server/mounts/vm-mounts.test.ts).
PACKAGES=systemd,systemd-sysv,udev,dbus,kmod,iproute2,procps,openssh-server,sudo,apparmor,docker.io,ca-certificates,linux-image-amd64,initramfs-tools,e2fsprogs,rsync
IMAGE_SIZE=8G
started_us=${EPOCHREALTIME/./}

log() {
  local elapsed_ms=$(( (${EPOCHREALTIME/./} - started_us) / 1000 ))
  printf 'build-vm-image: %s (%d.%03ds)\n' "$1" $((elapsed_ms / 1000)) $((elapsed_ms % 1000))
}
die() { printf 'build-vm-image: ERROR: %s\n' "$*" >&2; exit 1; }

if [[ -f $OUT/build-info ]]; then
  log "current: $OUT"
  exit 0
fi
[[ $EUID -eq 0 ]] || die "needs root (debootstrap, chroot, root-owned image files); run as root"
for tool in debootstrap mkfs.ext4 ssh-keygen flock; do
  command -v "$tool" >/dev/null || die "$tool is missing; run scripts/test-deps.sh"
done

install -d -m 0755 "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/build.lock"
flock 9
if [[ -f $OUT/build-info ]]; then
  log "built by another process: $OUT"
  exit 0
fi

work=$(mktemp -d "$CACHE_ROOT/build.XXXXXX")
trap 'umount -R "$work/rootfs/proc" "$work/rootfs/sys" 2>/dev/null || true; rm -rf "$work"' EXIT
chmod 0755 "$work"
rootfs=$work/rootfs
stage=$work/out
install -d -m 0755 "$rootfs" "$stage"

log "debootstrap bookworm (log: $work/debootstrap.log, copied to $CACHE_ROOT/debootstrap.log on failure)"
if ! debootstrap --variant=minbase --include="$PACKAGES" bookworm "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
  cp "$work/debootstrap.log" "$CACHE_ROOT/debootstrap.log"
  tail -n 30 "$work/debootstrap.log" >&2
  die "debootstrap failed; full log in $CACHE_ROOT/debootstrap.log"
fi
log "debootstrap done"

# Only what the initramfs needs to mount root on virtio: Debian's default (MODULES=most, 35 MB) took ~9 s of
# unpacking and udev module loading under TCG before root was mounted.
printf 'MODULES=list\n' >"$rootfs/etc/initramfs-tools/conf.d/boxyard-lab"
printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic >>"$rootfs/etc/initramfs-tools/modules"
chroot "$rootfs" update-initramfs -u -k all >"$work/initramfs.log" 2>&1 || { cat "$work/initramfs.log" >&2; die "update-initramfs failed"; }
kernel=$(ls "$rootfs"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
initrd=$(ls "$rootfs"/boot/initrd.img-* 2>/dev/null | sort -V | tail -n 1)
[[ -n $kernel && -n $initrd ]] || die "no kernel or initramfs in the rootfs's /boot after installing linux-image-amd64"
kver=${kernel##*/vmlinuz-}
for module in 9p 9pnet_virtio virtiofs virtio_blk virtio_net ext4; do
  find "$rootfs/lib/modules/$kver" -name "$module.ko*" | grep -q . \
    || grep -q "/$module.ko" "$rootfs/lib/modules/$kver/modules.builtin" \
    || die "kernel $kver has no $module module"
done

# The guest: serial console, root on the virtio disk, DHCP from QEMU's user-mode network on any NIC.
echo boxyard-lab-vm >"$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tboxyard-lab-vm\n' >"$rootfs/etc/hosts"
echo '/dev/vda / ext4 defaults,errors=remount-ro 0 1' >"$rootfs/etc/fstab"
cat >"$rootfs/etc/systemd/network/80-lab.network" <<'NET'
[Match]
Name=en* eth*

[Network]
DHCP=yes
NET
chroot "$rootfs" systemctl enable --quiet systemd-networkd
# Waiting for "online" only delays boot (nothing here needs it); timers that would run apt or scrubs under TCG
# steal the CPU from the tests.
chroot "$rootfs" systemctl mask --quiet systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer \
  e2scrub_all.timer e2scrub_reap.service fstrim.timer 2>/dev/null || true

# Host keys at first boot, so every VM (and every clone of a template that never booted) has its own.
rm -f "$rootfs"/etc/ssh/ssh_host_*
install -d -m 0755 "$rootfs/etc/systemd/system/ssh.service.d"
cat >"$rootfs/etc/systemd/system/ssh.service.d/boxyard-lab.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT
cat >"$rootfs/etc/ssh/sshd_config.d/boxyard-lab.conf" <<'SSHD'
PasswordAuthentication no
PermitRootLogin prohibit-password
UseDNS no
SSHD
# Empty: systemd makes a new machine id at first boot (clones must differ: DHCP client ids, journald).
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"

ssh-keygen -q -t ed25519 -N '' -C boxyard-lab-vm -f "$stage/lab_ed25519"
chroot "$rootfs" useradd --create-home --shell /bin/bash --groups sudo,docker dev
echo 'dev ALL=(ALL) NOPASSWD:ALL' >"$rootfs/etc/sudoers.d/dev"
chmod 0440 "$rootfs/etc/sudoers.d/dev"
for home in root home/dev; do
  install -d -m 0700 "$rootfs/$home/.ssh"
  install -m 0600 "$stage/lab_ed25519.pub" "$rootfs/$home/.ssh/authorized_keys"
done
chroot "$rootfs" chown -R dev:dev /home/dev/.ssh

chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
install -m 0644 "$kernel" "$stage/vmlinuz"
install -m 0644 "$initrd" "$stage/initrd.img"
log "rootfs configured (kernel $kver)"

# mke2fs -d fills the filesystem from the folder without a loop mount (works in containers too).
mkfs.ext4 -q -F -L boxyard-root -d "$rootfs" "$stage/root.img" "$IMAGE_SIZE" >/dev/null || die "mkfs.ext4 -d failed"
chmod 0644 "$stage/root.img" "$stage/lab_ed25519.pub"
chmod 0600 "$stage/lab_ed25519"
chmod 0755 "$stage"
elapsed=$(( (${EPOCHREALTIME/./} - started_us) / 1000 ))
printf 'version=%s\nkernel=%s\nbuilt=%s\nbuild_ms=%d\nimage_bytes_on_disk=%d\n' \
  "$VERSION" "$kver" "$(date -u +%FT%TZ)" "$elapsed" "$(( $(stat -c %b "$stage/root.img") * 512 ))" >"$stage/build-info.partial"
mv "$stage/build-info.partial" "$stage/build-info"
rm -rf "$OUT"
mv "$stage" "$OUT"
log "built $OUT in $((elapsed / 1000)).$(printf '%03d' $((elapsed % 1000))) s (root.img $(du -h "$OUT/root.img" | cut -f1) on disk)"

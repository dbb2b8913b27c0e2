#!/bin/bash
# Entrypoint of a lab box, run under tini. Prepares the box once, then keeps sshd in the foreground so its log
# reaches `docker logs`. When sshd is stopped on purpose (lab.ts stopSshd kills every sshd process), the
# container keeps running and waits until something opens the control FIFO (lab.ts startSshd) to start it again.
set -euo pipefail

# Host keys are made here, never baked into the image, so every box has its own.
ssh-keygen -A
if [[ -n ${LAB_DEV_PASSWORD:-} ]]; then
  echo "dev:$LAB_DEV_PASSWORD" | chpasswd
fi
if [[ -n ${LAB_AUTHORIZED_KEY:-} ]]; then
  printf '%s\n' "$LAB_AUTHORIZED_KEY" >>/home/dev/.ssh/authorized_keys
fi
unset LAB_DEV_PASSWORD LAB_AUTHORIZED_KEY

# Docker mounts the cgroup hierarchies read-only in an unprivileged container; a real VM has them writable,
# and a dockerd installed in the box later needs that to create its containers' cgroups.
if [[ ${LAB_DOCKER_CAPABLE:-} == 1 ]]; then
  awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/mounts | while read -r hierarchy; do
    mount -o remount,bind,rw "$hierarchy"
  done
fi

mkdir -p /run/sshd /run/boxyard-lab
start_fifo=/run/boxyard-lab/sshd-start
rm -f "$start_fifo"
mkfifo "$start_fifo"

while :; do
  status=0
  /usr/sbin/sshd -D -e || status=$?
  echo "boxyard-lab: sshd exited with status $status; waiting for a start request on $start_fifo" >&2
  cat "$start_fifo" >/dev/null
done

#!/usr/bin/env bash
# Prepares this machine for the test suite: Debian packages, a running dockerd, a running PostgreSQL with the
# `boxyard` role, a running libvirtd (QEMU, for the lab's VMs), and the lab's box image. Idempotent: on a ready machine it only checks, in about a second.
# Written for Debian 12 without systemd (the usual sandbox); uses systemctl where systemd runs.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOG_DIR=${BOXYARD_TEST_LOG_DIR:-/tmp/boxyard-test-deps}
# apparmor: dockerd needs apparmor_parser on kernels with AppArmor enabled (docker.io only recommends it).
# libvirt-*, qemu-*, virtinst (virt-clone): the lab's hypervisor host, real QEMU VMs under TCG (see notes in
# testing/lab); virsh also runs the driver tests against libvirt's built-in test:///default driver.
# sshfs: server/mounts/sshfs.test.ts mounts a real sshfs share (the sshfs mount transport) on this machine.
# gcc, libc6-dev, gcc-aarch64-linux-gnu, libc6-dev-arm64-cross: the compiled box sampler for both box architectures
# (scripts/build-sampler.sh); qemu-user-static runs its aarch64 build in server/metrics/sampler-c/build.test.ts.
# rsync: the laptop's rsync through the dashboard's tunnel to a lab VM (server/metrics/vm-suspend.test.ts).
# nginx: the load balancer in front of three dashboard processes (server/cluster/load-balancer.test.ts), run by the
# test itself with its own configuration (testing/nginx/), never as a service.
# prometheus: scrapes those three processes in the same test (testing/helpers/prometheus.ts), also its own process
# with its own configuration and data directory on a loopback port, never as a service.
PACKAGES=(docker.io iptables apparmor debootstrap openssh-client rsync chromium postgresql
  libvirt-clients libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils virtinst sshfs
  gcc libc6-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static nginx prometheus
  libfaketime)

say() { printf 'test-deps: %s\n' "$*"; }
die() { printf 'test-deps: ERROR: %s\n' "$*" >&2; exit 1; }
# wait_until_ready NAME SECONDS LOG COMMAND...: polls COMMAND every 0.5 s; after SECONDS, shows the log's tail and stops.
wait_until_ready() {
  local name=$1 seconds=$2 log=$3
  shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then
      tail -n 30 "$log" >&2 2>/dev/null || true
      die "$name did not become ready within $seconds s (see $log)"
    fi
    sleep 0.5
  done
}
require_root() { [[ $EUID -eq 0 ]] || die "$1 needs root; run this script as root"; }

install_missing_packages() {
  local missing=() package
  for package in "${PACKAGES[@]}"; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null) == installed ]] || missing+=("$package")
  done
  if ((${#missing[@]} == 0)); then
    say "packages present"
    return
  fi
  require_root "installing ${missing[*]}"
  say "installing ${missing[*]} (log: $LOG_DIR/apt.log)"
  mkdir -p "$LOG_DIR"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; } >"$LOG_DIR/apt.log" 2>&1; then
    tail -n 30 "$LOG_DIR/apt.log" >&2
    die "apt-get failed (full log: $LOG_DIR/apt.log)"
  fi
}

start_dockerd() {
  if docker info >/dev/null 2>&1; then
    say "dockerd running"
    return
  fi
  require_root "starting dockerd"
  mkdir -p "$LOG_DIR"
  if [[ -d /run/systemd/system ]]; then
    systemctl start docker
  else
    # setsid: dockerd must outlive this script and its terminal.
    setsid nohup dockerd >>"$LOG_DIR/dockerd.log" 2>&1 </dev/null &
  fi
  say "waiting for dockerd (log: $LOG_DIR/dockerd.log)"
  wait_until_ready dockerd 60 "$LOG_DIR/dockerd.log" docker info
  say "dockerd started"
}

# Sets PG_PORT to the port of the running `main` cluster (created if absent, as postgresql's postinst may skip it).
start_postgres() {
  local version status
  read -r version PG_PORT status < <(pg_lsclusters -h | awk '$2 == "main" { print $1, $3, $4; exit }') || true
  if [[ -z ${version:-} ]]; then
    require_root "creating a PostgreSQL cluster"
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    pg_createcluster "$version" main >/dev/null
    read -r PG_PORT status < <(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" { print $3, $4 }')
  fi
  if [[ $status != online* ]]; then
    require_root "starting PostgreSQL"
    pg_ctlcluster "$version" main start
  fi
  pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 30 || die "PostgreSQL $version/main is not accepting connections on 127.0.0.1:$PG_PORT"
  say "PostgreSQL $version running on port $PG_PORT"
}

create_boxyard_role() {
  local exists
  require_root "checking the boxyard role (psql as postgres)"
  exists=$(runuser -u postgres -- psql -p "$PG_PORT" -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'boxyard'")
  if [[ $exists != 1 ]]; then
    runuser -u postgres -- psql -q -p "$PG_PORT" -c "CREATE ROLE boxyard LOGIN CREATEDB PASSWORD 'boxyard'"
    say "created role boxyard"
  fi
  # Dropping a scratch database WITH (FORCE) must also end an autovacuum worker in it, whose role PostgreSQL 15 checks
  # as another role's: pg_signal_backend lets the tests' role do that (idempotent).
  runuser -u postgres -- psql -q -p "$PG_PORT" -c "GRANT pg_signal_backend TO boxyard" 2>/dev/null
  # The tests log in over TCP with the password: prove that pg_hba allows it.
  PGPASSWORD=boxyard psql -h 127.0.0.1 -p "$PG_PORT" -U boxyard -d postgres -tAc 'SELECT 1' >/dev/null \
    || die "role boxyard cannot log in over TCP with its password; check pg_hba.conf"
}

# libvirtd without systemd: Debian's libvirt-daemon-system would create the user, group and folders; the bare
# daemon package does not. qemu:///system then runs QEMU as libvirt-qemu.
start_libvirtd() {
  if virsh -c qemu:///system version >/dev/null 2>&1; then
    say "libvirtd running"
    return
  fi
  require_root "starting libvirtd"
  getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
  id libvirt-qemu >/dev/null 2>&1 || useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
  mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/qemu /var/lib/libvirt/images /run/libvirt "$LOG_DIR"
  if [[ -d /run/systemd/system ]]; then
    systemctl start virtlogd libvirtd
  else
    pgrep -x virtlogd >/dev/null || setsid nohup virtlogd >>"$LOG_DIR/virtlogd.log" 2>&1 </dev/null &
    pgrep -x libvirtd >/dev/null || setsid nohup libvirtd >>"$LOG_DIR/libvirtd.log" 2>&1 </dev/null &
  fi
  wait_until_ready libvirtd 30 "$LOG_DIR/libvirtd.log" virsh -c qemu:///system version
  say "libvirtd started"
}

install_missing_packages
start_dockerd
start_libvirtd
start_postgres
create_boxyard_role
"$REPO_DIR/testing/lab/build-image.sh"
"$REPO_DIR/testing/lab/vm/prepare-libvirt.sh"
"$REPO_DIR/testing/lab/vm/build-host-image.sh"
"$REPO_DIR/testing/lab/vm/build-vm-image.sh"

cat <<EOF
test-deps: ready. For the PostgreSQL tests:
export BOXYARD_TEST_PG_URL=postgresql://boxyard:boxyard@127.0.0.1:$PG_PORT/postgres
EOF

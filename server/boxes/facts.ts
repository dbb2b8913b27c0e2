import { sh, type ShellCommand } from '../ssh/quote';

/** What Boxyard knows about a box, gathered over SSH in one round trip. */
export interface BoxFacts {
  os: { id: string; name: string; version: string };
  kernel: string;
  arch: string;
  cpus: number | null;
  memoryTotalBytes: number | null;
  memoryAvailableBytes: number | null;
  diskTotalBytes: number | null;
  diskFreeBytes: number | null;
  /** systemd-detect-virt's answer ("kvm", "docker", "none"), or "unknown" where it is absent */
  virtualization: string;
  docker: { client: string | null; server: string | null };
  uptimeSeconds: number | null;
}

/**
 * One POSIX sh script, no user input in it, that prints `key=value` lines. Every probe tolerates a
 * missing tool so one odd box (a container, Alpine's busybox) still gives the rest.
 */
export const factsCommand: ShellCommand = sh.raw(
  [
    'if [ -r /etc/os-release ]; then . /etc/os-release; fi',
    'echo "os_id=${ID:-}"; echo "os_name=${PRETTY_NAME:-}"; echo "os_version=${VERSION_ID:-}"',
    'echo "kernel=$(uname -r)"; echo "arch=$(uname -m)"',
    'echo "cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null)"',
    "awk '/^MemTotal:/{print \"mem_total_kb=\" $2} /^MemAvailable:/{print \"mem_available_kb=\" $2}' /proc/meminfo 2>/dev/null",
    "df -Pk / 2>/dev/null | awk 'NR==2{print \"disk_total_kb=\" $2; print \"disk_free_kb=\" $4}'",
    // systemd-detect-virt is missing on minimal images and in most containers: fall back to their marks.
    'virt=$(systemd-detect-virt 2>/dev/null)',
    'if [ -z "$virt" ]; then',
    '  if [ -f /.dockerenv ]; then virt=docker; elif [ -f /run/.containerenv ]; then virt=podman;',
    "  elif grep -qw hypervisor /proc/cpuinfo 2>/dev/null; then virt=vm; fi",
    'fi',
    'echo "virt=${virt:-unknown}"',
    'if command -v docker >/dev/null 2>&1; then',
    "  echo \"docker_client=$(docker version --format '{{.Client.Version}}' 2>/dev/null || docker --version 2>/dev/null)\"",
    "  echo \"docker_server=$(docker version --format '{{.Server.Version}}' 2>/dev/null)\"",
    'fi',
    "echo \"uptime_s=$(cut -d' ' -f1 /proc/uptime 2>/dev/null)\"",
  ].join('\n'),
);

function toNumber(value: string | undefined, scale = 1): number | null {
  if (value === undefined || value.trim() === '') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n * scale : null;
}

export function parseFacts(stdout: string): BoxFacts {
  const values = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) values.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  const text = (key: string) => values.get(key) ?? '';
  const uptime = toNumber(values.get('uptime_s'));
  return {
    os: { id: text('os_id'), name: text('os_name'), version: text('os_version') },
    kernel: text('kernel'),
    arch: text('arch'),
    cpus: toNumber(values.get('cpus')),
    memoryTotalBytes: toNumber(values.get('mem_total_kb'), 1024),
    memoryAvailableBytes: toNumber(values.get('mem_available_kb'), 1024),
    diskTotalBytes: toNumber(values.get('disk_total_kb'), 1024),
    diskFreeBytes: toNumber(values.get('disk_free_kb'), 1024),
    virtualization: text('virt') || 'unknown',
    docker: { client: values.get('docker_client') || null, server: values.get('docker_server') || null },
    uptimeSeconds: uptime === null ? null : Math.floor(uptime),
  };
}

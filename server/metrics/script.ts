import { sh, type ShellCommand } from '../ssh/quote';

/**
 * The bash sampler, and the protocol every sampler speaks. Boxes normally run its compiled twin
 * (sampler-c/boxyard-sampler.c, shipped by compiled-sampler.ts), which prints the same lines at a fraction of the
 * CPU; this script runs where that cannot. ONE bash process per box for as long as the dashboard watches it, started
 * over an exec channel of the box's pooled SSH connection. Every sample is made with bash builtins only (`read`,
 * `mapfile` is not even needed, globs, `printf`, arithmetic), so the box forks nothing per sample:
 *
 * - CPU: the aggregate `cpu` line of /proc/stat (jiffies; the dashboard takes deltas). In a container the box's
 *   own cgroup CPU time is sent too (/proc/stat there is the whole host's), and the dashboard uses that instead.
 * - memory: /proc/meminfo (MemTotal, MemAvailable; MemFree+Buffers+Cached on kernels without MemAvailable), and
 *   in a container its cgroup's usage and limit (v1 or v2).
 * - load: /proc/loadavg (in a container this is the host's: said in the UI).
 * - network: /proc/net/dev byte counters of the real interfaces (lo, veth, docker and bridge devices skipped).
 * - SSH logins: one sshd "user [priv]" monitor per login. Read from the sshd listener's children list
 *   (/proc/LISTENER/task/LISTENER/children: one file, found once from the sampler's own parent chain), minus the
 *   dashboard's own connection; a login whose user is known but still authenticating also counts. Without that file
 *   (kernel without CONFIG_PROC_CHILDREN), a glob over /proc/N/comm finds the per-login user processes
 *   ("sshd: user", "sshd: user@pts/0") instead, which costs two reads per process on the box. Works without systemd (containers)
 *   and without utmp; the dashboard's own terminals are counted by the TerminalManager instead.
 * - containers: cgroup directories of docker/podman containers (v2: system.slice/docker-ID.scope, docker/ID;
 *   v1: cpuacct/docker/ID, cpuacct/system.slice/docker-ID.scope) with their CPU time, so "busy" means using CPU.
 * - listening TCP sockets: /proc/net/tcp and /proc/net/tcp6, lines in state 0A (LISTEN). The kernel lists its
 *   listening sockets first, so reading stops at the first other line. Sent at the start and then only when the
 *   list changed (the dashboard maps ports to what listens only then, server/metrics/ports.ts). The list is read
 *   only when the count of TCP sockets in use (/proc/net/sockstat and sockstat6, cheap counters) moved, which a new
 *   or closed listener does, and every 10th sample anyway (a listener replaced by another between two samples):
 *   reading /proc/net/tcp walks the host's whole established-socket table on the way, milliseconds of kernel time
 *   on a busy host. The compiled sampler asks netlink sock_diag for the same list (the listening table alone).
 * - disk: the one thing bash cannot read without a fork (statfs); `df -kP /` runs every DISK_EVERY seconds of box
 *   uptime (default 300 s: one short process per 5 minutes), never per sample.
 *
 * Pacing is `read -t INTERVAL` on the channel's stdin: it sleeps without a `sleep` process, a line with a number
 * (0.1 s or more; `read -t 0` would never wait) changes the interval at once (and takes a sample now), any other line just takes a sample now, and EOF (the
 * dashboard closed the channel or the connection died) ends the loop, so nothing is left behind on the box.
 *
 * Output, one block per sample, each line a tag and space-separated fields:
 *   H <version> <container 0|1> <cgroup v1|v2|none> <ncpu> <own sshd pid> <children|scan> <bash|c>   (once;
 *     children: logins are counted from sshd's children list, scan: by the /proc scan; then which sampler runs)
 *   T <uptime s> <box wall clock s>
 *   C <user nice system idle iowait irq softirq steal ...>        (/proc/stat cpu line)
 *   G <cgroup cpu usec>                                             (container only)
 *   M <MemTotal kB> <MemAvailable kB or -> <MemFree kB> <Buffers kB> <Cached kB>
 *   Q <cgroup mem used bytes> <limit bytes or max>                  (container only)
 *   L <load1> <load5> <load15> <running/total> <last pid>   (the last pid proves the sampler forks nothing)
 *   N <iface> <rx bytes> <tx bytes>                                 (per interface)
 *   U <ssh logins>
 *   K <container id> <cpu usec>                                     (per running container)
 *   P [<address hex>:<port> ...]                                    (listening TCP sockets, in /proc's order and
 *     its hex, IPv4 then IPv6; the first sample, then only when the list changed)
 *   D <disk used %>                                                 (every DISK_EVERY s)
 *   E <sequence>
 */
export const SAMPLER_VERSION = 1;

export const SAMPLER_SCRIPT = `
shopt -s nullglob
iv=$1; de=$2; n=0; ld=-999999; me=$PPID
ctr=0; [[ -e /.dockerenv || -e /run/.containerenv || -s /run/systemd/container ]] && ctr=1
cg=none; [[ -r /sys/fs/cgroup/cgroup.controllers ]] && cg=v2; [[ -r /sys/fs/cgroup/cpuacct/cpuacct.usage ]] && cg=v1
mp=; ls=; lc=; pl=; ps=x; tu=
read -r _ _ _ mp _ < /proc/$me/stat; [[ -n $mp ]] && read -r _ _ _ ls _ < /proc/$mp/stat
[[ -n $ls && -r /proc/$ls/task/$ls/children ]] && lc=/proc/$ls/task/$ls/children
nc=0; while read -r k _; do [[ $k == cpu[0-9]* ]] && ((nc++)); [[ $k == cpu* ]] || break; done < /proc/stat
sm=scan; [[ -n $lc ]] && sm=children
printf 'H 1 %s %s %s %s %s bash\n' "$ctr" "$cg" "$nc" "$me" "$sm"
exec 2>/dev/null
while :; do
  read -r up _ < /proc/uptime
  o="T $up \${EPOCHREALTIME:-0}"$'\\n'
  read -r _ c < /proc/stat; o+="C $c"$'\\n'
  if ((ctr)); then
    if [[ $cg == v2 ]]; then read -r _ u < /sys/fs/cgroup/cpu.stat; o+="G $u"$'\\n'
    elif [[ $cg == v1 ]]; then read -r u < /sys/fs/cgroup/cpuacct/cpuacct.usage; o+="G $((u/1000))"$'\\n'; fi
  fi
  mt=- ma=- mf=- mb=- mc=-
  while read -r k v _; do
    case $k in MemTotal:) mt=$v;; MemFree:) mf=$v;; MemAvailable:) ma=$v;; Buffers:) mb=$v;; Cached:) mc=$v; break;; esac
  done < /proc/meminfo
  o+="M $mt $ma $mf $mb $mc"$'\\n'
  if ((ctr)); then
    qi=0
    if [[ $cg == v2 ]]; then
      read -r qu < /sys/fs/cgroup/memory.current; read -r ql < /sys/fs/cgroup/memory.max
      while read -r k v; do [[ $k == inactive_file ]] && { qi=$v; break; }; done < /sys/fs/cgroup/memory.stat
    elif [[ $cg == v1 ]]; then
      read -r qu < /sys/fs/cgroup/memory/memory.usage_in_bytes; read -r ql < /sys/fs/cgroup/memory/memory.limit_in_bytes
      while read -r k v; do [[ $k == total_inactive_file ]] && { qi=$v; break; }; done < /sys/fs/cgroup/memory/memory.stat
    fi
    [[ -n $qu ]] && o+="Q $((qu-qi)) $ql"$'\\n'
  fi
  read -r a b c d e _ < /proc/loadavg; o+="L $a $b $c $d $e"$'\\n'
  i=0
  while read -r l; do
    ((i++ < 2)) && continue
    f=\${l%%:*}; r=\${l#*:}
    case $f in lo|veth*|docker*|br-*|virbr*|cni*|flannel*|vnet*) continue;; esac
    set -- $r; o+="N $f $1 $9"$'\\n'
  done < /proc/net/dev
  s=0
  if [[ -n $lc ]]; then
    ch=(); read -r -a ch < $lc
    for p in "\${ch[@]}"; do
      [[ $p == "$mp" ]] && continue
      read -r -d '' k < /proc/$p/cmdline
      [[ $k == *' [priv]'* && $k != *' unknown '* ]] && ((s++))
    done
  else
    for p in /proc/[0-9]*; do
      read -r k < $p/comm || continue
      [[ $k == sshd || $k == sshd-session ]] || continue
      [[ $p == /proc/$me ]] && continue
      read -r -d '' k < $p/cmdline
      [[ ($k == 'sshd: '* || $k == 'sshd-session: '*) && $k != *'['* ]] && ((s++))
    done
  fi
  o+="U $s"$'\\n'
  for d in /sys/fs/cgroup/system.slice/docker-*.scope /sys/fs/cgroup/docker/*/ /sys/fs/cgroup/machine.slice/libpod-*.scope; do
    [[ -r $d/cpu.stat ]] || continue
    read -r _ u < $d/cpu.stat; d=\${d%/}; d=\${d##*/}; d=\${d#docker-}; d=\${d#libpod-}; o+="K \${d%.scope} $u"$'\\n'
  done
  for d in /sys/fs/cgroup/cpuacct/docker/*/ /sys/fs/cgroup/cpuacct/system.slice/docker-*.scope; do
    read -r u < $d/cpuacct.usage || continue
    d=\${d%/}; d=\${d##*/}; d=\${d#docker-}; o+="K \${d%.scope} $((u/1000))"$'\\n'
  done
  t4=; t6=
  { read -r _; read -r _ _ t4 _; } < /proc/net/sockstat; read -r _ _ t6 _ < /proc/net/sockstat6
  if [[ $ps == x || "$t4 $t6" != "$tu" ]] || ((n % 10 == 0)); then
    tu="$t4 $t6"; pl=
    for f in /proc/net/tcp /proc/net/tcp6; do
      h=1
      while read -r _ a _ st _; do
        ((h)) && { h=0; continue; }
        [[ $st == 0A ]] || break
        pl+=" \${a%:*}:$((16#\${a##*:}))"
      done < $f
    done
    [[ $pl != "$ps" ]] && { o+="P$pl"$'\\n'; ps=$pl; }
  fi
  if (( \${up%.*} - ld >= de )); then
    ld=\${up%.*}; x=
    { read -r _; read -r _ _ _ _ x _; } < <(df -kP / 2>/dev/null)
    [[ -n $x ]] && o+="D \${x%[%]}"$'\\n'
  fi
  printf '%sE %s\n' "$o" "$n"; ((n++))
  if read -r -t "$iv" l; then
    [[ $l =~ ^([1-9][0-9]*([.][0-9]+)?|0?[.][1-9][0-9]*)$ ]] && iv=$l
  elif (( $? <= 128 )); then
    exit 0
  fi
done
`;

/**
 * The bash sampler's exec command: bash without rc files, the script as one quoted word, interval and disk period as
 * arguments. Used where the compiled sampler is not (compiled-sampler.ts).
 */
export function bashSamplerCommand(intervalSeconds: number, diskEverySeconds = 300): ShellCommand {
  return sh`exec bash --noprofile --norc -c ${SAMPLER_SCRIPT} boxyard-sampler ${String(intervalSeconds)} ${String(diskEverySeconds)}`;
}

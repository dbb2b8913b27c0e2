/*
 * boxyard-sampler: the compiled twin of the bash sampler in ../script.ts. Same arguments (interval seconds, disk
 * period seconds), same stdin protocol, same output lines (read by ../parse.ts); see script.ts for what each line
 * means and why each source is read. It exists because a box pays for every sample: bash spends ~0.5 ms of CPU per
 * sample on its own interpreter, this spends a few microseconds, so the sampler's cost on the box is mostly sshd's
 * (bench/monitor-cost.ts).
 *
 * Differences from the bash sampler, all in its favour: the fixed /proc and cgroup files stay open and are re-read
 * with pread (the kernel regenerates them, no path lookup per sample); disk use comes from statvfs, so it forks
 * nothing at all; listening sockets come from netlink sock_diag, not /proc/net/tcp (see netlink_listening); the
 * header says "c" as the implementation.
 *
 * Built static (no shared libraries to match on the box) by scripts/build-sampler.sh, shipped by ../ship.ts.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

static char out[1 << 16];
static size_t out_len;
static char text[1 << 16];

static void put(const char *fmt, ...) {
  size_t room = sizeof out - out_len;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out + out_len, room, fmt, ap);
  va_end(ap);
  if (n > 0) out_len += (size_t)n < room ? (size_t)n : room - 1;
}

/* Reads the whole file at fd into text (NUL-terminated); -1 on error. */
static ssize_t pread_all(int fd) {
  size_t n = 0;
  for (;;) {
    ssize_t r = pread(fd, text + n, sizeof text - 1 - n, (off_t)n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0 || (n += (size_t)r) == sizeof text - 1) break;
  }
  text[n] = 0;
  return (ssize_t)n;
}

/* A file read every sample: opened once, re-opened if a read fails (a cgroup file can go away and come back). */
struct source {
  const char *path;
  int fd;
};

static ssize_t read_source(struct source *s) {
  for (int attempt = 0; attempt < 2; attempt++) {
    if (s->fd < 0 && (s->fd = open(s->path, O_RDONLY | O_CLOEXEC)) < 0) return -1;
    ssize_t n = pread_all(s->fd);
    if (n >= 0) return n;
    close(s->fd);
    s->fd = -1;
  }
  return -1;
}

/* A file read once (a process's cmdline, a container's cpu.stat). */
static ssize_t read_path(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = pread_all(fd);
  close(fd);
  return n;
}

/* The rest of the line that starts with key (at the start of text or after a newline), or NULL. */
static const char *after_key(const char *key) {
  size_t len = strlen(key);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (strncmp(p, key, len) == 0) return p + len;
  return NULL;
}

static int line_len(const char *p) { return (int)strcspn(p, "\n"); }

static const char *skip_spaces(const char *p) { return p + strspn(p, " \t"); }

/* The ppid field of /proc/PID/stat (after the command name, which may contain spaces and parentheses). */
static long parent_of(long pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  if (read_path(path) < 0) return 0;
  const char *p = strrchr(text, ')');
  long ppid = 0;
  return p && sscanf(p + 1, " %*s %ld", &ppid) == 1 ? ppid : 0;
}

static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static int skipped_interface(const char *name, int len) {
  static const char *const prefixes[] = {"veth", "docker", "br-", "virbr", "cni", "flannel", "vnet"};
  if (len == 2 && strncmp(name, "lo", 2) == 0) return 1;
  for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
    size_t pl = strlen(prefixes[i]);
    if ((size_t)len >= pl && strncmp(name, prefixes[i], pl) == 0) return 1;
  }
  return 0;
}

/* Same rule as the bash sampler's regex: a plain decimal of at least 0.1 s. */
static int parse_interval(const char *line, double *interval) {
  if (!*line || strspn(line, "0123456789.") != strlen(line) || strchr(line, '.') != strrchr(line, '.')) return 0;
  double v = strtod(line, NULL);
  if (v < 0.1) return 0;
  *interval = v;
  return 1;
}

static long me, monitor, listener;
static char children[96];

static int count_logins(void) {
  int logins = 0;
  char path[300];
  if (children[0]) {
    static char list[sizeof text];
    ssize_t n = read_path(children);
    if (n < 0) return 0;
    memcpy(list, text, (size_t)n + 1);
    for (char *save, *tok = strtok_r(list, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
      long pid = atol(tok);
      if (pid == monitor) continue;
      snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
      if (read_path(path) < 0) continue;
      if (strstr(text, " [priv]") && !strstr(text, " unknown ")) logins++;
    }
    return logins;
  }
  DIR *proc = opendir("/proc");
  if (!proc) return 0;
  for (struct dirent *e; (e = readdir(proc));) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9' || atol(e->d_name) == me) continue;
    snprintf(path, sizeof path, "/proc/%s/comm", e->d_name);
    if (read_path(path) < 0 || (strcmp(text, "sshd\n") != 0 && strcmp(text, "sshd-session\n") != 0)) continue;
    snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
    if (read_path(path) < 0) continue;
    if ((starts_with(text, "sshd: ") || starts_with(text, "sshd-session: ")) && !strchr(text, '[')) logins++;
  }
  closedir(proc);
  return logins;
}

/* Running containers' cgroups (docker and podman, cgroup v2 and v1) with their CPU time in microseconds. */
static void put_containers(void) {
  static const struct {
    const char *dir, *prefix, *file;
    int nanoseconds;
  } places[] = {
      {"/sys/fs/cgroup/system.slice", "docker-", "cpu.stat", 0},
      {"/sys/fs/cgroup/docker", "", "cpu.stat", 0},
      {"/sys/fs/cgroup/machine.slice", "libpod-", "cpu.stat", 0},
      {"/sys/fs/cgroup/cpuacct/docker", "", "cpuacct.usage", 1},
      {"/sys/fs/cgroup/cpuacct/system.slice", "docker-", "cpuacct.usage", 1},
  };
  char path[512];
  for (size_t i = 0; i < sizeof places / sizeof *places; i++) {
    DIR *dir = opendir(places[i].dir);
    if (!dir) continue;
    size_t pl = strlen(places[i].prefix);
    for (struct dirent *e; (e = readdir(dir));) {
      const char *name = e->d_name;
      size_t len = strlen(name);
      if (name[0] == '.' || !starts_with(name, places[i].prefix)) continue;
      if (pl && (len < pl + 6 || strcmp(name + len - 6, ".scope") != 0)) continue;
      snprintf(path, sizeof path, "%s/%s/%s", places[i].dir, name, places[i].file);
      if (read_path(path) < 0) continue;
      unsigned long long usage = places[i].nanoseconds ? strtoull(text, NULL, 10) / 1000 : strtoull(skip_spaces(text + strcspn(text, " ")), NULL, 10);
      int id_len = (int)(len - pl - (pl ? 6 : 0));
      put("K %.*s %llu\n", id_len, name + pl, usage);
    }
    closedir(dir);
  }
}

/*
 * The box's listening TCP sockets as " ADDRESS:PORT" words, the address in hex as /proc/net/tcp{,6} prints it (each
 * 32-bit word of it in host byte order) and the port in decimal, IPv4 then IPv6, appended to list: the bash sampler's
 * P line, to the byte.
 *
 * Asked over NETLINK_SOCK_DIAG for sockets in state LISTEN only, as `ss -l` does: the kernel then walks its
 * listening hash alone. /proc/net/tcp cannot stop there: to find where the listening sockets end it walks the
 * established hash too, which is the whole host's (every network namespace's) and took ~6 ms of kernel time per
 * sample on a busy host (bench/ports.ts), some twenty times the rest of a sample. /proc is read where netlink is
 * refused (a seccomp filter, a kernel without sock_diag).
 */
static int netlink_listening(int family, char *list, size_t room, size_t *used) {
  static int fd = -2;
  if (fd == -2) fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return -1;
  struct {
    struct nlmsghdr header;
    struct inet_diag_req_v2 request;
  } ask = {
      .header = {.nlmsg_len = sizeof ask, .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
      .request = {.sdiag_family = (unsigned char)family, .sdiag_protocol = IPPROTO_TCP, .idiag_states = 1 << 10 /* TCP_LISTEN */},
  };
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  static long buffer[8192 / sizeof(long)];
  if (sendto(fd, &ask, sizeof ask, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) goto failed;
  for (;;) {
    ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) goto failed;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buffer; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) return 0;
      if (h->nlmsg_type == NLMSG_ERROR) goto failed;
      const struct inet_diag_msg *m = NLMSG_DATA(h);
      const unsigned *a = (const unsigned *)m->id.idiag_src;
      int w = family == AF_INET ? snprintf(list + *used, room - *used, " %08X:%u", a[0], ntohs(m->id.idiag_sport))
                                : snprintf(list + *used, room - *used, " %08X%08X%08X%08X:%u", a[0], a[1], a[2], a[3], ntohs(m->id.idiag_sport));
      if (w > 0 && (size_t)w < room - *used) *used += (size_t)w; /* a list too long for one line: the first ones */
    }
  }
failed:
  /* A new socket next time: what is left of this answer must not be read as the next one. */
  close(fd);
  fd = -2;
  return -1;
}

/* The same words from /proc/net/tcp or tcp6, read until the first socket in another state than LISTEN (0A). */
static void proc_listening(struct source *s, char *list, size_t room, size_t *used) {
  if (read_source(s) < 0) return;
  const char *p = strchr(text, '\n');
  for (; p && *++p; p = strchr(p, '\n')) {
    char address[33], port[5], state[3];
    if (sscanf(p, " %*s %32[0-9A-F]:%4[0-9A-F] %*s %2s", address, port, state) != 3 || strcmp(state, "0A") != 0) return;
    int w = snprintf(list + *used, room - *used, " %s:%ld", address, strtol(port, NULL, 16));
    if (w > 0 && (size_t)w < room - *used) *used += (size_t)w;
  }
}

/*
 * TCP sockets in use in the box's network namespace, IPv4 and IPv6 (/proc/net/sockstat{,6}: a few counters, cheap to
 * read). It moves when a socket starts or stops listening, and with every connection; the listening list is asked
 * for when it moved, and every LISTENING_EVERY samples anyway (a listener replaced by another between two samples
 * leaves it where it was).
 */
static long tcp_in_use(struct source *v4, struct source *v6) {
  long total = 0;
  const char *p;
  if (read_source(v4) >= 0 && (p = after_key("TCP: inuse "))) total += atol(p);
  if (read_source(v6) >= 0 && (p = after_key("TCP6: inuse "))) total += atol(p);
  return total;
}

#define LISTENING_EVERY 10

static void scan_listening(struct source *tcp4, struct source *tcp6, char *list, size_t room) {
  size_t used = 0;
  list[0] = 0;
  if (netlink_listening(AF_INET, list, room, &used) == 0 && netlink_listening(AF_INET6, list, room, &used) == 0) return;
  used = 0;
  list[0] = 0;
  proc_listening(tcp4, list, room, &used);
  proc_listening(tcp6, list, room, &used);
}

static void put_meminfo_field(const char *key) {
  const char *p = after_key(key);
  if (p) put(" %llu", strtoull(skip_spaces(p), NULL, 10));
  else put(" -");
}

int main(int argc, char **argv) {
  /* Run once before the real start: proves the box can execute this file (architecture, a noexec home). */
  if (argc == 2 && strcmp(argv[1], "--check") == 0) return 0;
  if (argc < 3) {
    fprintf(stderr, "usage: boxyard-sampler INTERVAL_SECONDS DISK_EVERY_SECONDS\n");
    return 2;
  }
  double interval = atof(argv[1]);
  long disk_every = atol(argv[2]);
  if (interval < 0.1) interval = 0.1;

  struct stat st;
  int container = access("/.dockerenv", F_OK) == 0 || access("/run/.containerenv", F_OK) == 0 ||
                  (stat("/run/systemd/container", &st) == 0 && st.st_size > 0);
  const char *cgroup = "none";
  if (access("/sys/fs/cgroup/cgroup.controllers", R_OK) == 0) cgroup = "v2";
  if (access("/sys/fs/cgroup/cpuacct/cpuacct.usage", R_OK) == 0) cgroup = "v1";
  int v2 = strcmp(cgroup, "v2") == 0, v1 = strcmp(cgroup, "v1") == 0;

  me = getppid();
  monitor = parent_of(me);
  listener = monitor ? parent_of(monitor) : 0;
  if (listener) {
    snprintf(children, sizeof children, "/proc/%ld/task/%ld/children", listener, listener);
    if (access(children, R_OK) != 0) children[0] = 0;
  }
  int ncpu = 0;
  if (read_path("/proc/stat") >= 0)
    for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
      if (starts_with(p, "cpu") && p[3] >= '0' && p[3] <= '9') ncpu++;
  put("H 1 %d %s %d %ld %s c\n", container, cgroup, ncpu, me, children[0] ? "children" : "scan");

  struct source uptime = {"/proc/uptime", -1}, stat_ = {"/proc/stat", -1}, meminfo = {"/proc/meminfo", -1},
                loadavg = {"/proc/loadavg", -1}, netdev = {"/proc/net/dev", -1};
  struct source tcp4 = {"/proc/net/tcp", -1}, tcp6 = {"/proc/net/tcp6", -1};
  struct source sockstat4 = {"/proc/net/sockstat", -1}, sockstat6 = {"/proc/net/sockstat6", -1};
  static char listening[8192], listening_sent[8192];
  int listening_known = 0;
  long in_use_before = -1;
  struct source cg_cpu = {v2 ? "/sys/fs/cgroup/cpu.stat" : "/sys/fs/cgroup/cpuacct/cpuacct.usage", -1};
  struct source cg_mem = {v2 ? "/sys/fs/cgroup/memory.current" : "/sys/fs/cgroup/memory/memory.usage_in_bytes", -1};
  struct source cg_max = {v2 ? "/sys/fs/cgroup/memory.max" : "/sys/fs/cgroup/memory/memory.limit_in_bytes", -1};
  struct source cg_stat = {v2 ? "/sys/fs/cgroup/memory.stat" : "/sys/fs/cgroup/memory/memory.stat", -1};

  char input[4096];
  size_t input_len = 0;
  long last_disk = -999999;
  for (unsigned long seq = 0;; seq++) {
    double up = 0;
    if (read_source(&uptime) >= 0) {
      up = strtod(text, NULL);
      struct timespec now;
      clock_gettime(CLOCK_REALTIME, &now);
      put("T %.*s %ld.%06ld\n", (int)strcspn(text, " \n"), text, (long)now.tv_sec, now.tv_nsec / 1000);
    }
    if (read_source(&stat_) >= 0 && starts_with(text, "cpu ")) {
      const char *p = skip_spaces(text + 3);
      put("C %.*s\n", line_len(p), p);
    }
    if (container && (v1 || v2) && read_source(&cg_cpu) >= 0)
      put("G %llu\n", v2 ? strtoull(skip_spaces(text + strcspn(text, " ")), NULL, 10) : strtoull(text, NULL, 10) / 1000);
    if (read_source(&meminfo) >= 0) {
      put("M");
      put_meminfo_field("MemTotal:");
      put_meminfo_field("MemAvailable:");
      put_meminfo_field("MemFree:");
      put_meminfo_field("Buffers:");
      put_meminfo_field("Cached:");
      put("\n");
    }
    if (container && (v1 || v2) && read_source(&cg_mem) >= 0) {
      unsigned long long used = strtoull(text, NULL, 10), inactive = 0;
      char limit[32] = "max";
      if (read_source(&cg_max) >= 0) snprintf(limit, sizeof limit, "%.*s", line_len(text), text);
      if (read_source(&cg_stat) >= 0) {
        const char *p = after_key(v2 ? "inactive_file " : "total_inactive_file ");
        if (p) inactive = strtoull(p, NULL, 10);
      }
      put("Q %lld %s\n", (long long)(used - inactive), limit);
    }
    if (read_source(&loadavg) >= 0) put("L %.*s\n", line_len(text), text);
    if (read_source(&netdev) >= 0) {
      const char *p = strchr(text, '\n');
      p = p ? strchr(p + 1, '\n') : NULL;
      for (; p && *++p; p = strchr(p, '\n')) {
        const char *name = skip_spaces(p), *colon = strchr(name, ':');
        if (!colon || colon > name + line_len(name)) continue;
        int len = (int)(colon - name);
        if (skipped_interface(name, len)) continue;
        unsigned long long v[9] = {0};
        char *q = (char *)colon + 1;
        for (int i = 0; i < 9; i++) v[i] = strtoull(q, &q, 10);
        put("N %.*s %llu %llu\n", len, name, v[0], v[8]);
      }
    }
    put("U %d\n", count_logins());
    put_containers();
    long in_use = tcp_in_use(&sockstat4, &sockstat6);
    if (!listening_known || in_use != in_use_before || seq % LISTENING_EVERY == 0) {
      in_use_before = in_use;
      scan_listening(&tcp4, &tcp6, listening, sizeof listening);
      if (!listening_known || strcmp(listening, listening_sent) != 0) {
        put("P%s\n", listening);
        memcpy(listening_sent, listening, sizeof listening);
        listening_known = 1;
      }
    }
    if ((long)up - last_disk >= disk_every) {
      last_disk = (long)up;
      struct statvfs fs;
      if (statvfs("/", &fs) == 0) {
        unsigned long long used = fs.f_blocks - fs.f_bfree, total = used + fs.f_bavail;
        if (total) put("D %llu\n", (used * 100 + total - 1) / total); /* rounded up, as df does */
      }
    }
    put("E %lu\n", seq);
    for (size_t done = 0; done < out_len;) {
      ssize_t w = write(1, out + done, out_len - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return 0;
      done += (size_t)w;
    }
    out_len = 0;

    /* Pacing: wait for the interval or a line on stdin; EOF means the dashboard closed the channel. */
    struct pollfd pfd = {.fd = 0, .events = POLLIN};
    int ready = poll(&pfd, 1, (int)(interval * 1000));
    if (ready < 0 && errno != EINTR) return 0;
    if (ready > 0) {
      ssize_t r = read(0, input + input_len, sizeof input - 1 - input_len);
      if (r <= 0) return 0;
      input_len += (size_t)r;
      input[input_len] = 0;
      char *line = input, *nl;
      while ((nl = strchr(line, '\n'))) {
        *nl = 0;
        parse_interval(line, &interval);
        line = nl + 1;
      }
      input_len = strlen(line);
      memmove(input, line, input_len + 1);
      if (input_len == sizeof input - 1) input_len = 0; /* a line too long to be an interval */
    }
  }
}

import { closeCodes } from '../../lib/terminal-protocol';
import type { ExecResult } from '../ssh/pool';
import { sh, type ShellCommand } from '../ssh/quote';
import { TerminalRefusal } from './close';

const NO_DOCKER = '__boxyard_no_docker__';

/** Prints whether the container runs ("true"/"false"), or a marker when the box has no docker CLI. */
export function containerStateCommand(name: string): ShellCommand {
  return sh`if ! command -v docker >/dev/null 2>&1; then echo ${NO_DOCKER}; exit 0; fi; docker inspect -f ${'{{.State.Running}}'} ${name}`;
}

/** Marks the container-side process of a terminal, so it can be found once the docker CLI is gone. */
function shellMarker(sessionId: string): string {
  return `boxyard-terminal-${sessionId}`;
}

/**
 * The shell of a container terminal: bash where the image has it, else sh; docker exec passes no TERM/LANG on.
 * The outer sh is not replaced by the shell: it keeps the marker as its $0, visible to `docker top`, and as the
 * session leader of the container-side terminal its death hangs up the shell (containerShellCleanupCommand). Hence no
 * `exec`, and the trailing `exit`: busybox sh and dash exec the last command of `-c` by themselves.
 * The docker CLI sizes the container's terminal only after the exec has started, so a shell (or a command typed at
 * once) could see 0x0; `stty` sets the size first, where the image has stty.
 */
export function containerShellCommand(name: string, sessionId: string, size: { cols: number; rows: number }): ShellCommand {
  const shell = 'stty rows "$1" cols "$2" 2>/dev/null; if command -v bash >/dev/null 2>&1; then bash; else sh; fi; exit $?';
  const dockerExec = sh`docker exec -it -e TERM=xterm-256color -e LANG=C.UTF-8 ${name} sh -c ${shell} ${shellMarker(sessionId)} ${size.rows} ${size.cols}`;
  // The docker CLI hears SIGWINCH only once its own first resize call has returned (MonitorTtySize), so a window
  // change in a terminal's first moments used to be lost. The box-side shell nudges it at 1 s and 3 s: docker then
  // re-reads the terminal's size (unchanged: nothing reaches the container). `<&0`: a background job keeps the
  // terminal as its stdin; the nudger is stopped when docker ends, and docker's exit status is the terminal's.
  return sh`${dockerExec} <&0 & p=$!
(sleep 1; kill -WINCH $p; sleep 2; kill -WINCH $p) </dev/null >/dev/null 2>&1 & n=$!
wait $p; s=$?; kill $n 2>/dev/null; exit $s`;
}

/**
 * Ends the container side of a closed terminal. Closing the SSH channel only ends the docker CLI on the box; the
 * process it started in the container keeps running (moby/moby#9098). `docker top` finds the marked process by its
 * box-side PID, /proc/PID/status (NSpid) gives its PID inside the container, and sh's kill builtin there ends it:
 * the kernel then sends SIGHUP to the shell's foreground job and bash passes it on to its jobs.
 */
export function containerShellCleanupCommand(name: string, sessionId: string): ShellCommand {
  const findPids = sh`docker top ${name} -o pid,args | awk -v marker=${shellMarker(sessionId)} ${'index($0, marker) { print $1 }'}`;
  const containerPid = sh.raw(`"$(awk '/^NSpid:/ { print $NF }' /proc/$pid/status)"`);
  return sh`for pid in $(${findPids}); do docker exec ${name} sh -c ${'kill -KILL "$1"'} sh ${containerPid}; done`;
}

/**
 * Throws a TerminalRefusal saying in plain words why no terminal can open in the container, given the output of
 * containerStateCommand; returns when the container is running.
 */
export function assertContainerRunning(name: string, result: Pick<ExecResult, 'stdout' | 'stderr' | 'code'>): void {
  const output = result.stdout.trim();
  if (output === NO_DOCKER) throw new TerminalRefusal(closeCodes.notFound, 'Docker is not installed on this box.');
  if (result.code === 0 && output === 'true') return;
  if (result.code === 0 && output === 'false') {
    throw new TerminalRefusal(closeCodes.notFound, `Container ${name} is not running; start it, then open the terminal again.`);
  }
  if (/No such object|No such container/i.test(result.stderr)) {
    throw new TerminalRefusal(closeCodes.notFound, `There is no container ${name} on this box.`);
  }
  if (/permission denied/i.test(result.stderr)) {
    throw new TerminalRefusal(closeCodes.boxUnavailable, "The box's SSH user may not use Docker: add it to the docker group.");
  }
  if (/Cannot connect to the Docker daemon|Is the docker daemon running/i.test(result.stderr)) {
    throw new TerminalRefusal(closeCodes.boxUnavailable, 'Docker is installed but its daemon is not running on this box.');
  }
  throw new TerminalRefusal(closeCodes.boxUnavailable, `docker inspect failed with exit code ${result.code}.`);
}

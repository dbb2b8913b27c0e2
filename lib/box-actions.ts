import type { BoxStatus } from './validation';

/**
 * Why actions that need an SSH session on the box (provision, reboot, a terminal) cannot work now, or null when they
 * may. An unreachable VM box is no reason: connecting wakes it (server/vms/wake.ts). "unknown" is the first check,
 * still running: the action may well work.
 */
export function boxActionsBlocked(box: { status: BoxStatus; isVm: boolean }): string | null {
  switch (box.status) {
    case 'host-key-mismatch':
      return 'The box offered a different host key: an admin must compare and trust it first.';
    case 'auth-failed':
      return "The box refused the dashboard's credentials: fix them (or its authorized_keys) first.";
    case 'unreachable':
      return box.isVm ? null : 'The box cannot be reached right now: these actions need an SSH connection to it.';
    case 'online':
    case 'unknown':
      return null;
  }
}

import type { VmState } from '../hypervisors/driver';

/**
 * Which lifecycle action makes sense in which VM state, in words for the user. Shared by the enqueue-time refusal,
 * the recipes' idempotent checks and the buttons (the server sends the allowed actions with each VM).
 */

export const vmActions = ['start', 'stop', 'suspend', 'resume', 'restart', 'pause'] as const;
export type VmAction = (typeof vmActions)[number];

/** Stop also powers off after the timeout; 2 s to 1 h. */
export const DEFAULT_STOP_TIMEOUT_SECONDS = 60;

interface ActionRule {
  /** States in which the job has nothing to do: it succeeds at once ("already running" is not an error). */
  done: readonly VmState[];
  /** States in which the action is refused, with the reason (after "<vm> is ..."). */
  refused: Partial<Record<VmState, string>>;
  /** The verb for logs and buttons. */
  label: string;
}

export const actionRules: Record<VmAction, ActionRule> = {
  start: {
    label: 'Start',
    done: ['running'],
    refused: {
      paused: 'paused: resume it instead of starting it',
      suspended: 'suspended: resume it instead of starting it',
      stopping: 'shutting down: start it once it has stopped',
      starting: 'already starting',
    },
  },
  stop: {
    label: 'Stop',
    done: ['stopped'],
    refused: {
      suspended: 'suspended: resume it before stopping it',
      stopping: 'already shutting down',
    },
  },
  suspend: {
    label: 'Suspend',
    done: ['suspended'],
    refused: {
      stopped: 'stopped; nothing to suspend',
      paused: 'paused: resume it before suspending it',
      starting: 'starting: suspend it once it runs',
      stopping: 'shutting down; nothing to suspend',
    },
  },
  resume: {
    label: 'Resume',
    done: ['running'],
    refused: {
      stopped: 'stopped; nothing to resume (start it instead)',
      starting: 'already starting',
      stopping: 'shutting down; nothing to resume',
    },
  },
  restart: {
    label: 'Restart',
    done: [],
    refused: {
      stopped: 'stopped: start it instead of restarting it',
      suspended: 'suspended: resume it before restarting it',
      paused: 'paused: resume it before restarting it',
      starting: 'starting',
      stopping: 'shutting down',
    },
  },
  pause: {
    label: 'Pause',
    done: ['paused'],
    refused: {
      stopped: 'stopped; nothing to pause',
      suspended: 'suspended; nothing to pause',
      starting: 'starting: pause it once it runs',
      stopping: 'shutting down; nothing to pause',
    },
  },
};

/** Why `action` cannot run on a VM in `state` ("web-1 is stopped; nothing to suspend."), or null when it can. */
export function refusal(action: VmAction, vmName: string, state: VmState): string | null {
  const reason = actionRules[action].refused[state];
  return reason ? `${vmName} is ${reason}.` : null;
}

/** The actions worth a button in this state: allowed and not already done (an unknown state offers them all). */
export function availableActions(state: VmState, options: { canPause: boolean }): VmAction[] {
  return vmActions.filter((action) => {
    if (action === 'pause' && !options.canPause) return false;
    const rule = actionRules[action];
    return !rule.refused[state] && !rule.done.includes(state);
  });
}

/** The job kind of a lifecycle action; stored in Job.kind, never rename. */
export const lifecycleKind = (action: VmAction) => `vm.${action}`;
export const lifecycleKinds: readonly string[] = vmActions.map(lifecycleKind);

import { z } from 'zod';
import { isAppError } from '../errors';
import { SshOnlyDriver } from '../hypervisors/ssh-only';
import { boxOf, type Recipe, type Step, type StepContext } from '../jobs/recipe';
import { isCommandTimeout } from '../ssh/errors';

/**
 * A plain SSH box (a VPS) has no hypervisor: Boxyard can only reboot or power it off from inside, over SSH, with
 * passwordless sudo. The caller has the user confirm first (the box's name typed back).
 */

export const powerActions = ['reboot', 'poweroff'] as const;
export type PowerAction = (typeof powerActions)[number];

export const powerParams = z.object({ reason: z.string().max(500).default('') });
type PowerParams = z.output<typeof powerParams>;
type Ctx = StepContext<PowerParams, object>;

function powerStep(action: PowerAction): Step<PowerParams, object> {
  return {
    name: action === 'reboot' ? 'Reboot the box' : 'Power off the box',
    // Never "already done": a reboot that was interrupted is simply asked for again.
    check: async () => false,
    async apply(ctx: Ctx) {
      const driver = new SshOnlyDriver((command, options) => ctx.exec(command, { timeoutMs: options?.timeoutMs ?? 30_000, stdin: options?.stdin }), {
        hostName: boxOf(ctx).name,
      });
      try {
        await (action === 'reboot' ? driver.rebootHost() : driver.powerOffHost());
      } catch (error) {
        // The box going down may take the SSH connection with it before the command reports back: that is success.
        if (isAppError(error, 'SSH_DISCONNECTED') || isCommandTimeout(error)) {
          await ctx.log('The connection dropped as the box went down.');
          return;
        }
        throw error;
      }
      await ctx.log(action === 'reboot' ? `${boxOf(ctx).name} is rebooting.` : `${boxOf(ctx).name} is powering off; start it again from its provider's console.`);
    },
    async verify() {},
  };
}

/** One reboot or power-off at a time per box. */
export function boxPowerJobKey(boxId: string): string {
  return `box-power:${boxId}`;
}

const powerKeyOf: Recipe<PowerParams, object>['exclusiveKeyOf'] = ({ boxId }) => boxId && boxPowerJobKey(boxId);

export const powerRecipes: Record<PowerAction, Recipe<PowerParams, object>> = {
  reboot: { kind: 'box.reboot', needs: { box: true, host: false }, title: 'Reboot', params: powerParams, exclusiveKeyOf: powerKeyOf, steps: [powerStep('reboot')] },
  poweroff: { kind: 'box.poweroff', needs: { box: true, host: false }, title: 'Power off', params: powerParams, exclusiveKeyOf: powerKeyOf, steps: [powerStep('poweroff')] },
};

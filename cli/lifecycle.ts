import { formatSeconds } from '../lib/format';
import { defineCommand, UsageError, type Command } from './commands';
import { CliError } from './connect';
import { dashboardFailure, dashboardOptions, findBox, openDashboard, type Dashboard, type DashboardClient } from './dashboard-api';
import { jsonOption, print, printJson } from './output';

/**
 * `boxyard start|stop|suspend|resume NAME`: the VM lifecycle job of a box, queued through the procedure the box page's
 * buttons use (vms.boxAction), then followed live on stderr (each log line as it is written, the runner's step lines
 * among them, from the jobs.logs subscription) until it ends.
 */

type LifecycleAction = 'start' | 'stop' | 'suspend' | 'resume';
export type FinishedJob = Awaited<ReturnType<DashboardClient['jobs']['get']['query']>>;

const say = (line: string) => process.stderr.write(`${line}\n`);

/** Follows the job's log until it ends, each line on stderr as it is written (the runner's own lines name each step); resolves with the finished job. */
export async function followJob(dashboard: Dashboard, jobId: string): Promise<FinishedJob> {
  await new Promise<void>((resolve, reject) => {
    const subscription = dashboard.client.jobs.logs.subscribe(
      { id: jobId },
      {
        onData: ({ data: event }) => {
          if (event.type === 'line') return say(event.text);
          subscription.unsubscribe();
          resolve();
        },
        onError: (error) =>
          reject(new CliError(`lost the job's log (${dashboardFailure(error, dashboard.url).message}); job ${jobId} goes on, see it on the dashboard`)),
      },
    );
  });
  return dashboard.ask((client) => client.jobs.get.query({ id: jobId }));
}

function lifecycleCommand(action: LifecycleAction, summary: string): Command {
  const stop = action === 'stop';
  return defineCommand({
    name: action,
    usage: `${action} [--url URL] [--token TOKEN]${stop ? ' [--timeout SECONDS]' : ''} [--json] NAME`,
    summary,
    description: `Queues the ${action} job of VM box NAME (as the button on its box page does) and follows it: each step and log line
on stderr as it comes, until the job ends. Exit code 0 when it succeeded, 1 with the job's error when it failed
(or when the box is not a VM, or its state does not allow it), 2 for a bad command line. --json prints the
finished job (with its steps) on stdout.${stop ? '\nA VM that does not shut down within --timeout seconds (default 60) is powered off.' : ''}`,
    options: {
      ...dashboardOptions,
      ...(stop ? { timeout: { type: 'string', value: 'SECONDS', help: 'power the VM off when it has not shut down by then (default 60)' } as const } : {}),
      json: jsonOption,
    },
    maxArguments: 1,
    async run(values: Record<string, string | boolean | undefined>, [name]) {
      if (!name) throw new UsageError(`${action} needs the name of a box`);
      const timeout = typeof values.timeout === 'string' ? Number(values.timeout) : undefined;
      if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 2 || timeout > 3600)) {
        throw new UsageError(`--timeout ${values.timeout} is not a number of seconds from 2 to 3600`);
      }
      const dashboard = await openDashboard({ url: values.url as string | undefined, token: values.token as string | undefined });
      const box = await findBox(dashboard, name);
      const started = performance.now();
      const { jobId } = await dashboard.ask((client) => client.vms.boxAction.mutate({ boxId: box.id, action, stopTimeoutSeconds: timeout }));
      say(`${action} ${name}: job ${jobId}`);
      const job = await followJob(dashboard, jobId);
      if (values.json) printJson(job);
      if (job.status !== 'succeeded') throw new CliError(`${action} of ${name} ${job.status}: ${job.error ?? 'no reason given'}`);
      if (!values.json) print(`${action} of ${name} succeeded in ${formatSeconds(performance.now() - started)}`);
    },
  });
}

export const lifecycleCommands: Command[] = [
  lifecycleCommand('start', 'start a VM box (lifecycle job, live progress)'),
  lifecycleCommand('stop', 'shut a VM box down, powered off after a timeout'),
  lifecycleCommand('suspend', 'suspend a VM box (its memory saved to disk)'),
  lifecycleCommand('resume', 'resume a suspended or paused VM box'),
];

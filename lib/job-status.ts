/**
 * A job's status, stored in Job.status. In lib/ because the browser shows it too. Active jobs hold their exclusive
 * key (queue.ts) and block another job of the same work; finished ones never change again.
 */

export const jobStatuses = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof jobStatuses)[number];

export const activeJobStatuses = ['queued', 'running'] as const satisfies readonly JobStatus[];
export type ActiveJobStatus = (typeof activeJobStatuses)[number];

export const finishedJobStatuses = ['succeeded', 'failed', 'cancelled'] as const satisfies readonly JobStatus[];
export type FinishedJobStatus = (typeof finishedJobStatuses)[number];

export function isFinishedJobStatus(status: string): status is FinishedJobStatus {
  return (finishedJobStatuses as readonly string[]).includes(status);
}

export function isActiveJobStatus(status: string): status is ActiveJobStatus {
  return (activeJobStatuses as readonly string[]).includes(status);
}

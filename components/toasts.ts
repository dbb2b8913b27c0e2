'use client';
import { toast } from 'sonner';
import { errorMessage } from '../lib/errors';

/**
 * Toasts for the outcome of an action, from mutations' callbacks: `onSuccess: () => succeeded('User added.')`,
 * `onError: failed`. The failure's text is the server's sentence (AppError), never a stack.
 */
export function succeeded(message: string) {
  toast.success(message);
}

export function failed(error: unknown) {
  toast.error(errorMessage(error));
}

/** For mutations that queue a job (their result is `{ jobId }`). */
export function jobQueued({ jobId }: { jobId: string }) {
  toast.success(`Job ${jobId} queued.`);
}

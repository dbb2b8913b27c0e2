import { AppError } from '../errors';

/**
 * How far an SSH call got: waiting for the connection, waiting for a free channel slot, or running a command (from
 * the moment its exec request may have reached the box).
 */
export type SshPhase = 'connecting' | 'queued' | 'running';

/** SSH_TIMEOUT from the pool, saying which phase ran out of time (what a caller may safely do next depends on it). */
export class SshTimeoutError extends AppError {
  constructor(
    readonly phase: SshPhase,
    message: string,
  ) {
    super('SSH_TIMEOUT', message);
  }
}

/**
 * A command that ran out of time after it may have started: it may have had effects, so running it again is not a
 * connection retry. Timeouts before that (connection, channel slot) and timeouts of other origins are not.
 */
export function isCommandTimeout(error: unknown): error is SshTimeoutError {
  return error instanceof SshTimeoutError && error.phase === 'running';
}


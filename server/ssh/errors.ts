import { AppError } from '../errors';

/**
 * How far an SSH call got: waiting for the connection, waiting for a free channel slot, opening a long-lived channel,
 * or running a command (from the moment its exec request may have reached the box).
 */
export type SshPhase = 'connecting' | 'queued' | 'opening' | 'running';

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

/**
 * Why a channel did not open: the box refused it (even after retries), refused its PTY, or the connection went; for a
 * forwarded channel, the box could not connect to the address (forward-failed) or does not forward (forward-refused).
 */
export type ChannelOpenFailure = 'refused' | 'pty-refused' | 'gone' | 'forward-failed' | 'forward-refused';

/** The box did not open a channel for the call; nothing ran on it. */
export class ChannelOpenError extends AppError {
  constructor(
    readonly failure: ChannelOpenFailure,
    message: string,
    options: { internal: string },
  ) {
    super(failure === 'gone' ? 'SSH_DISCONNECTED' : 'REMOTE_COMMAND_FAILED', message, options);
  }
}

export function isChannelOpenError(error: unknown, failure?: ChannelOpenFailure): error is ChannelOpenError {
  return error instanceof ChannelOpenError && (failure === undefined || error.failure === failure);
}

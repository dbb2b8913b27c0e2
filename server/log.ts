import pino from 'pino';

/** The one logger. JSON lines in production; LOG_LEVEL picks the level. */
export const logger = pino({
  level: process.env.LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'warn' : 'info'),
  redact: { paths: ['*.password', '*.privateKey', '*.secret', '*.passphrase'], censor: '[redacted]' },
});

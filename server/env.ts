import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/**
 * All configuration, validated once at start-up. Everything has a default that gives a working
 * single-process dashboard on SQLite; see the README's configuration table.
 */
const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    /** Public origin the browser uses; cookies and the WebSocket Origin check are bound to it. */
    BOXYARD_URL: z.url().optional(),
    BOXYARD_DATA_DIR: z.string().min(1).default('./data'),
    /** `file:` (SQLite, default under the data folder) or `postgresql://` */
    DATABASE_URL: z.string().min(1).optional(),
    /** 32 bytes, base64. Without it a key file is created in the data folder (0600). */
    BOXYARD_SECRET_KEY: z.string().optional(),
    BOXYARD_ADMIN_EMAIL: z.email().default('admin@boxyard.local'),
    /** First admin's password; generated and printed once when absent. */
    BOXYARD_ADMIN_PASSWORD: z.string().min(10).optional(),
    /** Sign-in attempts per client address per minute before "too many requests". */
    SIGNIN_ATTEMPTS_PER_MINUTE: z.coerce.number().int().min(1).default(10),
    SSH_CONNECT_TIMEOUT_MS: z.coerce.number().int().positive().default(8000),
    SSH_COMMAND_TIMEOUT_MS: z.coerce.number().int().positive().default(60_000),
    SSH_MAX_CHANNELS_PER_BOX: z.coerce.number().int().min(1).max(64).default(8),
    STATUS_INTERVAL_MS: z.coerce.number().int().min(1000).default(30_000),
    /** A terminal left with no browser attached is closed after this long. */
    TERMINAL_IDLE_TIMEOUT_MS: z.coerce.number().int().min(1000).default(5 * 60_000),
    /** Output history kept per terminal and replayed when a browser re-attaches. */
    TERMINAL_BUFFER_BYTES: z.coerce.number().int().min(64 * 1024).max(16 * 1024 * 1024).default(256 * 1024),
    /** Jobs (e.g. provisioning) one dashboard runs at once. */
    JOB_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
    /** Runs of one job step before a connection problem (box unreachable, connection dropped) fails the job. */
    JOB_STEP_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(6),
    /** A running job's lease: a dashboard that stops renewing it (crashed) loses the job to another after this long. */
    JOB_LEASE_MS: z.coerce.number().int().min(3000).default(60_000),
    /** Names this dashboard in job leases; stable across restarts, distinct per dashboard sharing a database. */
    JOB_RUNNER_ID: z.string().min(1).max(200).default(os.hostname()),
    /** Bearer token Prometheus sends to GET /metrics; admins can also rotate one in the settings. At least 16 characters. */
    BOXYARD_METRICS_TOKEN: z.string().min(16).optional(),
  })
  .transform((env) => {
    const dataDir = path.resolve(env.BOXYARD_DATA_DIR);
    return {
      ...env,
      dataDir,
      databaseUrl: env.DATABASE_URL ?? `file:${path.join(dataDir, 'boxyard.db')}`,
      publicUrl: env.BOXYARD_URL ?? `http://${env.HOST === '0.0.0.0' ? '127.0.0.1' : env.HOST}:${env.PORT}`,
    };
  });

export type Env = z.output<typeof envSchema>;

export function loadEnv(source: Record<string, string | undefined> = process.env): Env {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new Error(`Invalid configuration, fix these environment variables:\n${problems}`);
  }
  return parsed.data;
}

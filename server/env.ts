import { isIP } from 'node:net';
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
    /** Sign-in attempts per client address per minute, whatever the accounts, before "too many requests". */
    SIGNIN_ATTEMPTS_PER_MINUTE: z.coerce.number().int().min(1).default(10),
    /**
     * Reverse proxies in front of the dashboard, comma-separated addresses or CIDR ranges: only a request from one of
     * them has its X-Forwarded-For believed (server/http/client-address.ts). Empty: the socket's address is the client's.
     */
    BOXYARD_TRUSTED_PROXIES: z
      .string()
      .default('')
      .transform((value, ctx) => {
        const entries = value.split(',').map((entry) => entry.trim()).filter(Boolean);
        const networks = entries.map(parseNetwork);
        entries.forEach((entry, i) => {
          if (!networks[i]) ctx.addIssue({ code: 'custom', message: `"${entry}" is not an IP address or a CIDR range such as 10.0.0.5, 10.0.0.0/24 or fd00::/8.` });
        });
        return networks.filter((network) => network !== null);
      }),
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
    /**
     * Wildcard domain for previews on their own origin (`3000--web-dev.<domain>`, server/previews); its `*.` DNS
     * name must reach this dashboard. Unset: previews use the path form on the dashboard's origin.
     */
    BOXYARD_PREVIEW_DOMAIN: z
      .string()
      .trim()
      .toLowerCase()
      .regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'Give a DNS name whose subdomains reach this dashboard, such as preview.example.com or preview.localhost (no scheme, port or "*.").')
      .optional(),
    /** A request body sent to a preview may be at most this large (413 beyond). */
    PREVIEW_MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(64 * 1024 * 1024),
    /** An app that has not started answering a preview request after this long gets the timeout page (504). */
    PREVIEW_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  })
  .transform((env, ctx) => {
    const dataDir = path.resolve(env.BOXYARD_DATA_DIR);
    const publicUrl = env.BOXYARD_URL ?? `http://${env.HOST === '0.0.0.0' ? '127.0.0.1' : env.HOST}:${env.PORT}`;
    const dashboardHost = new URL(publicUrl).hostname;
    if (env.BOXYARD_PREVIEW_DOMAIN && (dashboardHost === env.BOXYARD_PREVIEW_DOMAIN || dashboardHost.endsWith(`.${env.BOXYARD_PREVIEW_DOMAIN}`))) {
      ctx.addIssue({
        code: 'custom',
        path: ['BOXYARD_PREVIEW_DOMAIN'],
        message: `The dashboard (${dashboardHost}) must not be under the preview domain ${env.BOXYARD_PREVIEW_DOMAIN}: previews would share its origin or cookies; use a sibling such as preview.${dashboardHost}.`,
      });
    }
    return {
      ...env,
      dataDir,
      databaseUrl: env.DATABASE_URL ?? `file:${path.join(dataDir, 'boxyard.db')}`,
      publicUrl,
      /** The origin of the dashboard's pages: the only one allowed to change state with the session cookie. */
      publicOrigin: new URL(publicUrl).origin,
    };
  });

export type Env = z.output<typeof envSchema>;

/** An address range: an IP address and how many of its leading bits a member shares (all of them for one address). */
export interface Network {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** `10.0.0.5`, `10.0.0.0/24`, `fd00::/8`; null for anything else. */
export function parseNetwork(entry: string): Network | null {
  const [address = '', prefixText, ...rest] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return null;
  const maxPrefix = version === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = prefixText === undefined ? maxPrefix : Number(prefixText);
  return prefix <= maxPrefix ? { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' } : null;
}

export function loadEnv(source: Record<string, string | undefined> = process.env): Env {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new Error(`Invalid configuration, fix these environment variables:\n${problems}`);
  }
  return parsed.data;
}

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
    /**
     * Several processes on PostgreSQL: where the other processes reach this one directly (a forwarded terminal).
     * Default: http://HOST:PORT (this machine's hostname when HOST is 0.0.0.0).
     */
    BOXYARD_INTERNAL_URL: z.url().optional(),
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
    /** OpenID Connect sign-in (README "Single sign-on and groups"): all of it is off unless OIDC_ISSUER is set. */
    OIDC_ISSUER: z.url('OIDC_ISSUER must be the provider\'s issuer URL, such as https://login.example.com/realms/team.').optional(),
    OIDC_CLIENT_ID: z.string().min(1, 'OIDC_CLIENT_ID is empty: give the client id registered at the provider.').optional(),
    OIDC_CLIENT_SECRET: z.string().min(1, "OIDC_CLIENT_SECRET is empty: give the client's secret from the provider.").optional(),
    OIDC_SCOPES: z.string().default('openid email profile'),
    /** Shown on the sign-in page as "Sign in with <name>". */
    OIDC_PROVIDER_NAME: z.string().min(1).max(40).default('single sign-on'),
    /** Comma-separated domains (example.com) and addresses whose first sign-in creates an account. */
    OIDC_ALLOWED_DOMAINS: z.string().default(''),
    OIDC_ALLOWED_EMAILS: z.string().default(''),
    /** The ID token claim listing the user's groups, e.g. "groups"; unset: groups and role are not taken from the provider. */
    OIDC_GROUPS_CLAIM: z.string().min(1).optional(),
    /** Members of this provider group sign in as admins, everyone else as developers (needs OIDC_GROUPS_CLAIM). */
    OIDC_ADMIN_GROUP: z.string().min(1).optional(),
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
  .superRefine((env, ctx) => {
    const oidcSet = Object.entries(env).some(([name, value]) => name.startsWith('OIDC_') && value !== undefined && !oidcDefaults.has(`${name}=${String(value)}`));
    if (!oidcSet) return;
    for (const name of ['OIDC_ISSUER', 'OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET'] as const) {
      if (!env[name]) ctx.addIssue({ code: 'custom', path: [name], message: `${name} is needed for single sign-on (or unset every OIDC_ variable to turn it off).` });
    }
    if (env.OIDC_ADMIN_GROUP && !env.OIDC_GROUPS_CLAIM) ctx.addIssue({ code: 'custom', path: ['OIDC_ADMIN_GROUP'], message: 'OIDC_ADMIN_GROUP needs OIDC_GROUPS_CLAIM, the claim that lists the groups (often "groups").' });
    if (!listOf(env.OIDC_SCOPES).includes('openid')) ctx.addIssue({ code: 'custom', path: ['OIDC_SCOPES'], message: 'OIDC_SCOPES must include openid (and email, for the address the account is matched by).' });
    for (const domain of listOf(env.OIDC_ALLOWED_DOMAINS)) {
      if (!/^[a-z0-9.-]+\.[a-z]{2,}$/i.test(domain)) ctx.addIssue({ code: 'custom', path: ['OIDC_ALLOWED_DOMAINS'], message: `"${domain}" is not a domain such as example.com.` });
    }
    for (const email of listOf(env.OIDC_ALLOWED_EMAILS)) {
      if (!z.email().safeParse(email).success) ctx.addIssue({ code: 'custom', path: ['OIDC_ALLOWED_EMAILS'], message: `"${email}" is not an email address.` });
    }
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
      oidc: oidcConfigOf(env),
    };
  });

/** OIDC_ variables whose default alone does not turn single sign-on on. */
const oidcDefaults = new Set(['OIDC_SCOPES=openid email profile', 'OIDC_PROVIDER_NAME=single sign-on', 'OIDC_ALLOWED_DOMAINS=', 'OIDC_ALLOWED_EMAILS=']);

const listOf = (value: string) => value.split(/[\s,]+/).map((entry) => entry.trim()).filter(Boolean);

/** Single sign-on as the rest of the server sees it; null when OIDC_ISSUER is unset. */
export interface OidcConfig {
  issuer: string;
  clientId: string;
  clientSecret: string;
  scopes: string[];
  providerName: string;
  allowedDomains: string[];
  allowedEmails: string[];
  groupsClaim: string | null;
  adminGroup: string | null;
}

function oidcConfigOf(env: { [name: `OIDC_${string}`]: string | undefined }): OidcConfig | null {
  if (!env.OIDC_ISSUER || !env.OIDC_CLIENT_ID || !env.OIDC_CLIENT_SECRET) return null;
  return {
    issuer: env.OIDC_ISSUER.replace(/\/+$/, ''),
    clientId: env.OIDC_CLIENT_ID,
    clientSecret: env.OIDC_CLIENT_SECRET,
    scopes: listOf(env.OIDC_SCOPES ?? ''),
    providerName: env.OIDC_PROVIDER_NAME ?? 'single sign-on',
    allowedDomains: listOf(env.OIDC_ALLOWED_DOMAINS ?? '').map((domain) => domain.toLowerCase()),
    allowedEmails: listOf(env.OIDC_ALLOWED_EMAILS ?? '').map((email) => email.toLowerCase()),
    groupsClaim: env.OIDC_GROUPS_CLAIM ?? null,
    adminGroup: env.OIDC_ADMIN_GROUP ?? null,
  };
}

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

/** This process's address for the other processes, once it listens on `port` (PORT may be 0). */
export function internalUrl(env: Pick<Env, 'BOXYARD_INTERNAL_URL' | 'HOST'>, port: number): string {
  return env.BOXYARD_INTERNAL_URL ?? `http://${env.HOST === '0.0.0.0' ? os.hostname() : env.HOST}:${port}`;
}

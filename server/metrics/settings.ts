import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { z } from 'zod';
import { patchOf } from '../../lib/validation';
import type { Db } from '../db/client';

/** Metrics and idle settings, one JSON row in the Setting table (admins change them from the settings page). */
export const metricsSettingsSchema = z.object({
  /** Sampling interval while nobody looks at the box. */
  slowIntervalS: z.number().min(5).max(600).default(30),
  /** Sampling interval while someone has the box's page open. */
  fastIntervalS: z.number().min(0.5).max(60).default(2),
  /** Guest CPU (percent of all its cores) under which the box counts as quiet. */
  idleCpuPct: z.number().min(0).max(100).default(5),
  /** A container using more than this (percent of one core) is busy. */
  containerBusyPct: z.number().min(0).max(400).default(5),
  /** How long a box must stay quiet before it is idle. */
  idleWindowS: z.number().min(1).max(24 * 3600).default(15 * 60),
  /** Between the warning and the suspend. */
  suspendWarningS: z.number().min(0).max(24 * 3600).default(5 * 60),
  /** Estimate for the team summary: watts a busy dev VM draws from a laptop (see README: how estimated). */
  busyWatts: z.number().min(0).max(1000).default(15),
  /** Estimate for the team summary: what a running VPS costs per hour. */
  vpsCostPerHour: z.number().min(0).max(1000).default(0.05),
});
export type MetricsSettings = z.output<typeof metricsSettingsSchema>;
/** What an admin changes: only the settings given; the others keep their stored values. */
export const metricsSettingsPatch = patchOf(metricsSettingsSchema);

const KEY = 'metrics.settings';
const TOKEN_KEY = 'metrics.prometheusTokenSha256';

export async function readMetricsSettings(db: Db): Promise<MetricsSettings> {
  const row = await db.setting.findUnique({ where: { key: KEY } });
  let stored: unknown = {};
  try {
    stored = row ? JSON.parse(row.value) : {};
  } catch {
    stored = {};
  }
  const parsed = metricsSettingsSchema.safeParse(stored);
  return parsed.success ? parsed.data : metricsSettingsSchema.parse({});
}

export async function writeMetricsSettings(db: Db, patch: z.input<typeof metricsSettingsPatch>): Promise<MetricsSettings> {
  const next = metricsSettingsSchema.parse({ ...(await readMetricsSettings(db)), ...metricsSettingsPatch.parse(patch) });
  const value = JSON.stringify(next);
  await db.setting.upsert({ where: { key: KEY }, create: { key: KEY, value }, update: { value } });
  return next;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** Makes a new Prometheus scrape token (shown once); only its SHA-256 is stored. The old one stops working. */
export async function rotatePrometheusToken(db: Db): Promise<string> {
  const token = `bxm_${randomBytes(24).toString('base64url')}`;
  const value = sha256(token).toString('hex');
  await db.setting.upsert({ where: { key: TOKEN_KEY }, create: { key: TOKEN_KEY, value }, update: { value } });
  return token;
}

export async function prometheusTokenSet(db: Db): Promise<boolean> {
  return (await db.setting.findUnique({ where: { key: TOKEN_KEY } })) !== null;
}

/** True when `presented` is the env token or the admin-set token; false when neither is configured. */
export async function checkPrometheusToken(db: Db, envToken: string | undefined, presented: string): Promise<boolean> {
  const given = sha256(presented);
  if (envToken && timingSafeEqual(given, sha256(envToken))) return true;
  const row = await db.setting.findUnique({ where: { key: TOKEN_KEY } });
  return row !== null && timingSafeEqual(given, Buffer.from(row.value, 'hex'));
}

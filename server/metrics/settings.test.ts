// The metrics settings as metrics.updateSettings changes them: the admin page sends only the fields that were edited.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabases } from '../../testing/helpers/databases';
import { createDb, type Db } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { metricsSettingsPatch, metricsSettingsSchema, readMetricsSettings, writeMetricsSettings } from './settings';

describe('metrics settings', () => {
  const newDatabase = testDatabases('sqlite', 'metrics_settings');
  let db: Db;

  beforeAll(async () => {
    const url = await newDatabase();
    await applyMigrations(url);
    db = createDb(url);
  });

  afterAll(async () => {
    await db.$disconnect();
  });

  it('a patch changes only the settings it names; the others keep their stored values, not the defaults', async () => {
    const defaults = metricsSettingsSchema.parse({});
    const stored = await writeMetricsSettings(db, { idleWindowS: 120, slowIntervalS: 10, busyWatts: 30, vpsCostPerHour: 1.5 });
    expect(stored).toEqual({ ...defaults, idleWindowS: 120, slowIntervalS: 10, busyWatts: 30, vpsCostPerHour: 1.5 });
    // As the procedure receives it: parsed by its input schema first.
    const patch = metricsSettingsPatch.parse({ idleCpuPct: 20 });
    expect(patch).toEqual({ idleCpuPct: 20 });
    expect(await writeMetricsSettings(db, patch)).toEqual({ ...stored, idleCpuPct: 20 });
    expect(await readMetricsSettings(db)).toEqual({ ...stored, idleCpuPct: 20 });
  });

  it('refuses a value out of range and changes nothing', async () => {
    const before = await readMetricsSettings(db);
    for (const bad of [{ idleCpuPct: 1e300 }, { slowIntervalS: -1e300 }, { fastIntervalS: Number.NaN }, { idleWindowS: Number.POSITIVE_INFINITY }]) {
      expect(metricsSettingsPatch.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
      await expect(writeMetricsSettings(db, bad)).rejects.toThrow();
    }
    expect(await readMetricsSettings(db)).toEqual(before);
  });
});

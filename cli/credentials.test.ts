import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { UsageError } from './commands';
import { credentialsFile, readCredentials, removeCredentials, resolveDashboard, saveCredentials } from './credentials';

describe('CLI credentials', () => {
  beforeEach(() => {
    vi.stubEnv('XDG_CONFIG_HOME', mkdtempSync(path.join(os.tmpdir(), 'boxyard-xdg-')));
    vi.stubEnv('BOXYARD_URL', '');
    vi.stubEnv('BOXYARD_TOKEN', '');
  });
  afterEach(() => vi.unstubAllEnvs());

  it('saves the login under XDG_CONFIG_HOME, 0600 in a 0700 folder, and reads it back', async () => {
    await saveCredentials({ url: 'https://yard.example.com', token: 'byd_secret', email: 'alice@example.com' });
    const file = credentialsFile();
    expect(file).toBe(path.join(process.env.XDG_CONFIG_HOME!, 'boxyard', 'credentials.json'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(await readCredentials()).toEqual({ url: 'https://yard.example.com', token: 'byd_secret', email: 'alice@example.com' });
    await removeCredentials();
    expect(await readCredentials()).toBeNull();
  });

  it('flags win over the environment, the environment over the saved login', async () => {
    await saveCredentials({ url: 'https://yard.example.com', token: 'byd_saved' });
    expect(await resolveDashboard({})).toEqual({ url: 'https://yard.example.com', token: 'byd_saved' });
    vi.stubEnv('BOXYARD_TOKEN', 'byd_env');
    expect(await resolveDashboard({})).toEqual({ url: 'https://yard.example.com', token: 'byd_env' });
    expect(await resolveDashboard({ url: 'https://other.example.com', token: 'byd_flag' })).toEqual({ url: 'https://other.example.com', token: 'byd_flag' });
  });

  it('never sends the saved token to another dashboard, and says how to sign in', async () => {
    await expect(resolveDashboard({})).rejects.toThrow(/not signed in: run `boxyard login URL`/);
    await saveCredentials({ url: 'https://yard.example.com/', token: 'byd_saved' });
    expect(await resolveDashboard({ url: 'https://yard.example.com' })).toEqual({ url: 'https://yard.example.com/', token: 'byd_saved' });
    await expect(resolveDashboard({ url: 'https://evil.example.com' })).rejects.toThrow(/signed in to https:\/\/yard.example.com\/, not https:\/\/evil.example.com/);
  });

  it('names a file that is not a login instead of using or overwriting it', async () => {
    await saveCredentials({ url: 'https://yard.example.com', token: 'byd_saved' });
    writeFileSync(credentialsFile(), '{"token": 3}');
    const error = await readCredentials().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain(`${credentialsFile()} is not a Boxyard login`);
    expect(readFileSync(credentialsFile(), 'utf8')).toBe('{"token": 3}');
  });
});

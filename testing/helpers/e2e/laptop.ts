import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI_SOURCE, runProcess, startProcess, TSX, type Ran, type Running } from '../process';
import { test as base } from './test';

/** A developer's laptop for browser tests: its own HOME and XDG config folder, and the repository's CLI run in it. */
export interface Laptop {
  home: string;
  /** Where `boxyard login` saves the login on this laptop. */
  credentialsFile: string;
  /** Runs `boxyard ARGS` to its end. */
  boxyard(...args: string[]): Promise<Ran>;
  /** Starts `boxyard ARGS` and returns while it runs (`login` waits for the browser); killed after the test. */
  startBoxyard(...args: string[]): Running;
}

export const test = base.extend<{ laptop: Laptop }>({
  laptop: async ({}, use) => {
    const home = await mkdtemp(path.join(tmpdir(), 'boxyard-e2e-laptop-'));
    const env = { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), NODE_ENV: 'production' } as NodeJS.ProcessEnv;
    const running: Running[] = [];
    await use({
      home,
      credentialsFile: path.join(home, '.config', 'boxyard', 'credentials.json'),
      boxyard: (...args) => runProcess(TSX, [CLI_SOURCE, ...args], { env, timeoutMs: 90_000 }),
      startBoxyard: (...args) => {
        const started = startProcess(TSX, [CLI_SOURCE, ...args], { env });
        running.push(started);
        return started;
      },
    });
    for (const started of running) started.kill();
    await rm(home, { recursive: true, force: true });
  },
});

export { expect, signIn, uniqueName } from './test';

// A private PostgreSQL server for one test (Debian's PostgreSQL 15 binaries, its own data directory on a free
// loopback port), which the test may restart or hold down: the shared server on 5432 serves the other tests and must
// never go away under them.
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { freePort, runProcess } from './process';

const BIN = '/usr/lib/postgresql/15/bin';
/** initdb refuses to run as root ("cannot be run as root"): as root the server runs as Debian's postgres account. */
const SERVER_USER = 'postgres';

export interface PrivatePostgres {
  /** The dashboard's database on this server, as DATABASE_URL (its own role, owner of the database). */
  url: string;
  port: number;
  /** `pg_ctl restart -m fast`: every connection is cut, the server is back when this resolves. */
  restart(): Promise<void>;
  /** `pg_ctl stop -m fast`: connections are cut and new ones refused until start(). */
  halt(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server (if it runs) and removes its directory. */
  remove(): Promise<void>;
}

export async function startPrivatePostgres(label: string): Promise<PrivatePostgres> {
  const dir = mkdtempSync(path.join(tmpdir(), `boxyard-pg-${label}-`));
  const data = path.join(dir, 'data');
  const asRoot = userInfo().uid === 0;
  // The server's user must own its directory, and reach it through the temporary directory's parents (world-readable /tmp).
  let owner: [number, number] | null = null;
  if (asRoot) {
    const [uid, gid] = await Promise.all([runProcess('id', ['-u', SERVER_USER]), runProcess('id', ['-g', SERVER_USER])]);
    if (uid.code !== 0) throw new Error(`PostgreSQL's initdb refuses to run as root, and there is no "${SERVER_USER}" account to run it as (install Debian's postgresql package)`);
    owner = [Number(uid.stdout), Number(gid.stdout)];
    chownSync(dir, ...owner);
  }
  chmodSync(dir, 0o700);
  const run = async (program: string, args: string[]) => {
    const [file, argv] = asRoot ? ['runuser', ['-u', SERVER_USER, '--', path.join(BIN, program), ...args]] : [path.join(BIN, program), args];
    const ran = await runProcess(file, argv, { cwd: dir, timeoutMs: 60_000 });
    if (ran.code !== 0) throw new Error(`${program} ${args.join(' ')} failed (${ran.code}): ${(ran.stderr || ran.stdout).trim().slice(-2000)}`);
    return ran;
  };

  const password = `private-${Math.random().toString(36).slice(2)}`;
  const pwfile = path.join(dir, 'superuser-password');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (owner) chownSync(pwfile, ...owner);
  await run('initdb', ['-D', data, '-U', 'postgres', '--pwfile', pwfile, '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync', '-E', 'UTF8']);
  rmSync(pwfile);
  const port = await freePort();
  // The same options for every start (restart reuses them from postmaster.opts): loopback only, the socket in `dir`.
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${dir} -c fsync=off -c max_connections=200`;
  const log = path.join(dir, 'server.log');
  const start = async () => {
    await run('pg_ctl', ['start', '-D', data, '-w', '-t', '30', '-l', log, '-o', options]);
  };
  await start();
  const superuser = `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const dashboardPassword = `dashboard-${Math.random().toString(36).slice(2)}`;
  const admin = new pg.Client({ connectionString: superuser });
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE dashboard LOGIN PASSWORD '${dashboardPassword}'`);
    await admin.query('CREATE DATABASE dashboard OWNER dashboard');
  } finally {
    await admin.end();
  }
  let running = true;
  return {
    url: `postgresql://dashboard:${dashboardPassword}@127.0.0.1:${port}/dashboard`,
    port,
    async restart() {
      await run('pg_ctl', ['restart', '-D', data, '-m', 'fast', '-w', '-t', '30', '-l', log]);
    },
    async halt() {
      await run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w', '-t', '30']);
      running = false;
    },
    async start() {
      await start();
      running = true;
    },
    async remove() {
      if (running) await run('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w', '-t', '30']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

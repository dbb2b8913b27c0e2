import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { CLI_SHA256_PATH, cliInstallCommand } from '../lib/cli-distribution';
import { CliError, requestDashboard } from './connect';

/**
 * `boxyard version`: this CLI's version and build hash, and, given the dashboard, whether it serves another build.
 *
 * The build hash is the SHA-256 of the bundled file itself (read at run time: a file cannot hold its own hash), the
 * very value the dashboard publishes beside its copy, so "same hash" means "same bytes as the dashboard's".
 */

/** Set by scripts/build-cli.mjs (esbuild `define`); absent when running from source with tsx. */
declare const BOXYARD_CLI_BUILD: { version: string } | undefined;

export interface VersionReport {
  version: string;
  /** SHA-256 of this CLI's file; null when running from source (no build). */
  sha256: string | null;
  dashboard?: {
    url: string;
    sha256: string;
    /** True when the dashboard serves a build other than this one (the dashboard's copy is the one to have); false from source. */
    newer: boolean;
    installCommand: string;
  };
}

async function thisBuild(): Promise<{ version: string; sha256: string | null }> {
  if (typeof BOXYARD_CLI_BUILD === 'undefined') {
    const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    return { version, sha256: null };
  }
  const bytes = await readFile(fileURLToPath(import.meta.url));
  return { version: BOXYARD_CLI_BUILD.version, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** The hash the dashboard at `url` publishes for its CLI. */
async function publishedSha256(url: string): Promise<string> {
  const { endpoint, response } = await requestDashboard(url, CLI_SHA256_PATH);
  const line = response.ok ? await response.text() : '';
  const sha256 = /^([0-9a-f]{64})\s/.exec(line)?.[1];
  if (!sha256) throw new CliError(`the dashboard answered HTTP ${response.status} without a CLI hash at ${endpoint.href} (is ${url} a Boxyard dashboard?)`);
  return sha256;
}

export async function versionReport(url: string | undefined): Promise<VersionReport> {
  const build = await thisBuild();
  if (!url) return build;
  const sha256 = await publishedSha256(url);
  const newer = build.sha256 !== null && sha256 !== build.sha256;
  return { ...build, dashboard: { url, sha256, newer, installCommand: cliInstallCommand(url) } };
}

export function describeVersion(report: VersionReport): string[] {
  const lines = [`boxyard ${report.version} (${report.sha256 ? `build sha256 ${report.sha256}` : 'from source, not a build'})`];
  const { dashboard } = report;
  if (!dashboard) return lines;
  if (!report.sha256) return [...lines, `The dashboard at ${dashboard.url} serves the build sha256 ${dashboard.sha256}.`];
  if (!dashboard.newer) return [...lines, `The dashboard at ${dashboard.url} serves this same CLI.`];
  return [
    ...lines,
    `The dashboard at ${dashboard.url} has a newer CLI (sha256 ${dashboard.sha256}). Install it with:`,
    `  ${dashboard.installCommand}`,
  ];
}

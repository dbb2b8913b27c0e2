/**
 * Where a dashboard serves the laptop CLI (server/http/cli-download.ts), shared by the server, the CLI's `version`
 * and the profile page's install line.
 */

/** The bundled CLI, one file that needs only Node >= 20. */
export const CLI_FILE_PATH = '/cli/boxyard.mjs';
/** Its SHA-256 as a `sha256sum` line, computed when it was built. */
export const CLI_SHA256_PATH = '/cli/boxyard.mjs.sha256';
/** A POSIX sh script that downloads the CLI, checks its hash and installs it into ~/.local/bin. */
export const CLI_INSTALL_PATH = '/cli/install.sh';

/**
 * `path` (of the dashboard's routes, e.g. CLI_FILE_PATH) on the dashboard at `dashboardUrl`, below its own path if it
 * has one (a reverse proxy serving it at https://example.com/boxyard/). Throws a TypeError for a `dashboardUrl` that
 * is not a URL.
 */
export function dashboardAddress(dashboardUrl: string, path: string): URL {
  return new URL(path.replace(/^\//, ''), dashboardUrl.endsWith('/') ? dashboardUrl : `${dashboardUrl}/`);
}

export function cliInstallCommand(dashboardUrl: string): string {
  return `curl -fsSL ${dashboardAddress(dashboardUrl, CLI_INSTALL_PATH).href} | sh`;
}

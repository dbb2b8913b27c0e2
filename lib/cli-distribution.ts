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

/** A path of the dashboard at `dashboardUrl` (these routes are at its root). */
export function dashboardAddress(dashboardUrl: string, path: string): string {
  return new URL(path, dashboardUrl).href;
}

export function cliInstallCommand(dashboardUrl: string): string {
  return `curl -fsSL ${dashboardAddress(dashboardUrl, CLI_INSTALL_PATH)} | sh`;
}

import { defineConfig } from 'vitest/config';

/**
 * Files that test pure code: no lab box, no database server, no dashboard services. `npx vitest run --project unit`
 * runs them alone in seconds.
 */
const unitFiles = [
  'cli/known-hosts.test.ts',
  'components/no-browser-dialogs.test.ts',
  'components/metrics/sparkline-paths.test.ts',
  'cli/ssh-config.test.ts',
  'server/boxes/containers.test.ts',
  'server/boxes/facts.test.ts',
  'server/connect/snippets.test.ts',
  'server/crypto/secret-box.test.ts',
  'server/hypervisors/common.test.ts',
  'server/hypervisors/parallels.test.ts',
  'server/hypervisors/ssh-only.test.ts',
  'server/hypervisors/utm.test.ts',
  'server/jobs/units.test.ts',
  'server/metrics/parse.test.ts',
  'server/mounts/compile.test.ts',
  'server/mounts/policy.test.ts',
  'server/mounts/units.test.ts',
  'server/previews/units.test.ts',
  'server/provision/daemon-json.test.ts',
  'server/provision/docker-commands.test.ts',
  'server/terminals/messages.test.ts',
  'server/terminals/ring-buffer.test.ts',
  'server/terminals/session-state.test.ts',
  'server/vms/lifecycle-recipes.test.ts',
  'server/vms/power-recipe.test.ts',
];

export default defineConfig({
  test: {
    // Test files run side by side: nothing they use is shared by name. Databases are created per test file with
    // unique names (testing/helpers/databases.ts), SQLite files and data folders are temporary, servers listen on
    // port 0, lab boxes, libvirt domains and their SSH ports are random (testing/lab). The limit is the machine:
    // two workers for two cores (the TCG guests of the VM tests use whole cores while they boot).
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: { NODE_ENV: 'test' },
    reporters: ['default', './testing/slowest-files-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: unitFiles } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['**/*.test.ts'],
          // Playwright owns e2e/**/*.spec.ts.
          exclude: ['**/node_modules/**', '.next/**', 'e2e/**', ...unitFiles],
        },
      },
    ],
  },
});

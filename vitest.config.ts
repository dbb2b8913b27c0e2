import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    // Playwright owns e2e/**/*.spec.ts.
    exclude: ['**/node_modules/**', 'e2e/**/*.spec.ts', '.next/**'],
    // Test files share one PostgreSQL server and real SSH/Docker fixtures: run them one at a time.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: { NODE_ENV: 'test' },
  },
});

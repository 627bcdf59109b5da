import { defineConfig } from 'vitest/config';

// Unit and integration tests (Node). End-to-end tests in Chromium use vitest.e2e.config.ts.
export default defineConfig({
  test: {
    include: ['common/**/*.test.ts', 'main/**/*.test.ts', 'test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'tools/**/*.test.ts'],
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});

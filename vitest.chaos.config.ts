import { defineConfig } from 'vitest/config';

/**
 * `npm run test:chaos`: the chaos suite (test/chaos/). Each test starts its own redis-server,
 * doubles and bridge processes, and kills or starves them; they run one at a time because they
 * load the machine and measure what survives.
 */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});

// Vitest configuration. Written in CommonJS syntax because package.json has no "type": "module",
// so Vite loads this file as CommonJS; the inline import() types keep the options type-checked.
const { defineConfig } = require('vitest/config') as typeof import('vitest/config');

const config: import('vitest/config').ViteUserConfig = {
  test: {
    include: ['test/**/*.test.ts'],
    // One process per test file: the native addon keeps per-process state (ISA path, thread
    // count) that some files change. At most 2 files at a time on the 2-core machine.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
};

module.exports = defineConfig(config);

// Vitest configuration. Written in CommonJS syntax because package.json has no "type": "module",
// so Vite loads this file as CommonJS; the inline import() types keep the options type-checked.
const { defineConfig } = require('vitest/config') as typeof import('vitest/config');

const ALONE = ['test/server.test.ts'];

const config: import('vitest/config').ViteUserConfig = {
  test: {
    // One process per test file: the native addon keeps per-process state (ISA path, thread
    // count) that some files change. At most 2 files at a time on the 2-core machine.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The event-loop delay figures test/server.test.ts prints mean most when no other test file
    // competes for the 2 cores, so that file runs alone, after all the others.
    projects: [
      { extends: true, test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: ALONE } },
      { extends: true, test: { name: 'alone', include: ALONE, sequence: { groupOrder: 1 } } },
    ],
  },
};

module.exports = defineConfig(config);

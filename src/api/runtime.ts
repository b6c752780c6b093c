// Thread and introspection controls of one backend (the same functions on every entry point).
import type { Backend } from './backend.js';
import { packageVersion } from './package-root.js';
import type { Info } from './types.js';
import { checkThreadCount } from './validate.js';

export function createRuntime(backend: Backend) {
  return {
    /**
     * Sets how many threads one operation may use (integer 1-1024; default: the available cores,
     * or FASTNORM_THREADS). Results are bitwise identical for every thread count. The reference
     * backend accepts it and always runs on the calling thread.
     * @example
     * fastnorm.setNumThreads(1); // e.g. a server that runs one request per core
     */
    setNumThreads(n: number): void {
      backend.setNumThreads(checkThreadCount(n));
    },
    /** The thread count set by setNumThreads (or the default). */
    getNumThreads(): number {
      return backend.getNumThreads();
    },
    /**
     * What is running: backend ('native' or 'reference'), SIMD path, threads and package version.
     * @example
     * fastnorm.info(); // { backend: 'native', isa: 'avx512', threads: 2, version: '0.1.0' }
     */
    info(): Info {
      return { backend: backend.name, isa: backend.isa(), threads: backend.getNumThreads(), version: packageVersion };
    },
  };
}

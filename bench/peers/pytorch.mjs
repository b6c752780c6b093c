// PyTorch CPU through /usr/bin/python3 (Debian's python3-torch), as a benchmark peer. One
// long-lived Python process (torch_peer.py) serves the whole run over a line-JSON pipe, so
// interpreter and torch start-up are never timed; each timed sample is one request that runs K
// calls between two perf_counter_ns reads inside Python. The scenario's inputs go over as raw
// float32 files (in /dev/shm when it exists), so both sides time the very same numbers.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { peerArrays, unavailable } from './common.mjs';

const PYTHON = process.env.FASTNORM_BENCH_PYTHON ?? '/usr/bin/python3';
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'torch_peer.py');

// Short names for the table; the JSON keeps the full ones.
export function shortImpl(impl) {
  return impl
    .replace(/^aten\.native_\w+?(_backward)?\.out/, 'aten out')
    .replace(/^aten\.native_\w+/, 'aten')
    .replace(/^autograd\((F\.\w+|composite)\)/, 'autograd')
    .replace(/^composite .*/, 'composite')
    .replace(/^F\.\w+/, 'F');
}

class PythonProcess {
  constructor(threads, env) {
    this.child = spawn(PYTHON, [SCRIPT, String(threads)], { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.pending = [];
    this.stderr = '';
    this.child.stderr.on('data', (d) => { this.stderr = (this.stderr + d).slice(-4000); });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const waiter = this.pending.shift();
      if (waiter) waiter.resolve(JSON.parse(line));
    });
    this.child.on('exit', (code) => {
      for (const w of this.pending.splice(0)) w.reject(new Error(`python exited (${code}): ${this.stderr.trim()}`));
    });
  }

  request(msg) {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.child.stdin.write(`${JSON.stringify(msg)}\n`);
    }).then((reply) => {
      if (!reply.ok) throw new Error(reply.error);
      return reply;
    });
  }

  close() {
    this.child.stdin.end();
  }
}

function tempDir() {
  const base = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  return mkdtempSync(join(base, 'fastnorm-bench-'));
}

/** Why PyTorch cannot be used, or null when `import torch` works. */
function probe() {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status === 0) return null;
  const last = (r.stderr || r.error?.message || '').trim().split('\n').pop();
  return `${PYTHON} cannot import torch (${last}); on Debian: apt-get install python3-torch`;
}

/**
 * The PyTorch peer: { available, note, version, contenders, close }. Its contenders (one per
 * thread count) offer every PyTorch implementation of a scenario as a variant; the harness times
 * them all and reports the fastest.
 */
export async function loadPyTorch({ threadCounts }) {
  const why = probe();
  if (why) return unavailable('pytorch', why);
  const dir = tempDir();
  // GOMP_SPINCOUNT bounds how long PyTorch's OpenMP workers spin after a parallel region: the
  // default burns a core for ~7 ms after every call here, which would land on the next,
  // interleaved, contender's sample. Calls inside one sample are microseconds apart, well inside
  // the bound (~0.3 ms), so PyTorch's own timing keeps its spinning workers.
  const env = { ...process.env, GOMP_SPINCOUNT: process.env.GOMP_SPINCOUNT ?? '10000' };
  // One process per thread count: torch.set_num_threads is set once in each.
  const procs = new Map(threadCounts.map((t) => [t, new PythonProcess(t, env)]));
  const closeAll = () => {
    for (const p of procs.values()) p.close();
    rmSync(dir, { recursive: true, force: true });
  };
  let hello;
  try {
    [hello] = await Promise.all([...procs.values()].map((p) => p.request({ cmd: 'hello' })));
  } catch (e) {
    closeAll();
    return unavailable('pytorch', `torch_peer.py failed to start: ${e.message}`);
  }
  let current = null; // the scenario the Python processes hold: { s, impls, notes }
  let fileCount = 0;

  // Loads the scenario's inputs into every process and checks each implementation's outputs
  // (from the first process) against fastnorm's.
  async function setupScenario(s, inputs, expected, compare) {
    if (current?.s === s) return current;
    await release();
    current = { s, impls: [], notes: [] };
    const files = {};
    for (const [name, array] of Object.entries(peerArrays(inputs))) {
      files[name] = join(dir, `in${fileCount++}.${name}.f32`);
      writeFileSync(files[name], new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
    }
    try {
      const replies = await Promise.all([...procs.values()].map((p) => p.request({ cmd: 'setup', spec: s.peer, inputs: files })));
      const first = procs.get(threadCounts[0]);
      for (const impl of replies[0].impls) {
        let actual;
        try {
          const { outputs } = await first.request({ cmd: 'result', impl, prefix: join(dir, `out${fileCount++}`) });
          actual = {};
          for (const [name, file] of Object.entries(outputs)) {
            const bytes = readFileSync(file);
            actual[name] = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
            rmSync(file);
          }
        } catch (e) {
          current.notes.push(`pytorch ${impl}: ${e.message.split('. ')[0]} (left out)`);
          continue;
        }
        const bad = compare(expected, actual);
        if (bad) current.notes.push(`pytorch ${impl} disagrees with fastnorm: ${bad} (left out)`);
        else current.impls.push(impl);
      }
    } catch (e) {
      current.impls = [];
      current.notes.push(`pytorch: ${e.message.split('\n')[0]}`);
    } finally {
      for (const f of Object.values(files)) rmSync(f, { force: true });
    }
    return current;
  }

  async function release() {
    if (current) await Promise.all([...procs.values()].map((p) => p.request({ cmd: 'drop' })));
    current = null;
  }

  const contenders = threadCounts.map((threads) => ({
    name: `pytorch ${threads}T`, kind: 'peer', peer: 'pytorch', threads,
    async prepare(s, inputs, expected, compare) {
      if (!s.peer) return null;
      const c = await setupScenario(s, inputs, expected, compare);
      const proc = procs.get(threads);
      return {
        notes: threads === threadCounts[0] ? c.notes : [],
        variants: c.impls.map((impl) => ({
          impl: shortImpl(impl), fullImpl: impl,
          mode: impl.endsWith('.out') ? 'out' : 'alloc',
          sample: async (inner) => (await proc.request({ cmd: 'time', impl, inner })).seconds,
        })),
      };
    },
  }));

  return {
    name: 'pytorch', available: true, version: hello.torch,
    note: `PyTorch ${hello.torch} (Python ${hello.python}, ATen CPU capability ${hello.capability ?? '?'}), ` +
      'fastest of F.*, autograd and direct ATen calls (functional and .out) per case',
    contenders,
    release,
    close: closeAll,
  };
}

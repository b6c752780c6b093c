// examples/server (README "Using fastnorm in a server"): the node:http service started as a user
// would, on 127.0.0.1 with an ephemeral port. Concurrent JSON and binary requests are each checked
// against the reference backend; bad requests get a 400 naming the argument. And the point of the
// promise API: while a large batch is normalized the event loop keeps serving. That is checked
// without a clock: while each of several [32768, 768] float32 requests is normalized, the client
// sends small requests (GET /stats) one after another, and the promise server must answer
// MIN_ANSWERS of them per large request in all before those are done (it answers dozens; the
// --sync server none, its event loop waiting for the normalization — at most the one request in
// flight when it ends, whatever the machine's load: printed for comparison). The server's own
// event-loop delay figures (monitorEventLoopDelay, GET /stats) are printed too, not asserted:
// they are timings, and the machine is shared. vitest.config.ts runs this file alone, after the
// others, so that its figures are not those of a machine busy with other test files.
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as reference from '../src/reference';
import { childEnv, expectClose, makeRng, randn, REPO_ROOT } from './helpers';

const EXAMPLE = 'examples/server/server.mjs';
const F32_TOL = 1e-5;
/** A large request: 32768 embeddings of 768 float32 (96 MiB), 12-22 ms of normalization on one thread. */
const LARGE_ROWS = 32768;
const DIM = 768;
const LARGE_REQUESTS = 4;
/** Small requests the promise server must answer per large request it normalizes (in all). */
const MIN_ANSWERS = 2;

interface Server {
  url: string;
  child: ChildProcess;
}

/** Starts the example (in the environment of runNode) and waits for its address. */
function startServer(args: string[] = []): Promise<Server> {
  const child = spawn(process.execPath, [EXAMPLE, '--port', '0', '--host', '127.0.0.1', ...args], { cwd: REPO_ROOT, env: childEnv() });
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (d) => { stderr += d; });
    child.stdout!.on('data', (d) => {
      stdout += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
      if (m) resolve({ url: m[1], child });
    });
    child.once('exit', (code) => reject(new Error(`the server exited (${code}) before listening\n${stdout}\n${stderr}`)));
  });
}

function stopServer(s: Server | undefined): void {
  if (s && s.child.exitCode === null) s.child.kill();
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function request(url: string, method: string, headers: Record<string, string> = {}, body?: Buffer | string, agent?: http.Agent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const json = (r: Reply) => JSON.parse(r.body.toString('utf8'));
const asFloat32 = (b: Buffer) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

function postBinary(url: string, path: string, x: Float32Array, shape?: number[]): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  if (shape) headers['x-shape'] = shape.join(',');
  return request(url + path, 'POST', headers, Buffer.from(x.buffer, x.byteOffset, x.byteLength));
}

function postJson(url: string, path: string, body: unknown): Promise<Reply> {
  return request(url + path, 'POST', { 'content-type': 'application/json' }, JSON.stringify(body));
}

/** What the server must answer: the reference op on the same float32 data. */
function expected(op: 'layernorm' | 'rmsnorm', data: Float32Array, rows: number, dim: number): Float32Array {
  const x = { data, shape: [rows, dim] };
  return (op === 'layernorm' ? reference.layerNorm(x, dim) : reference.rmsNorm(x, dim)).y.data as Float32Array;
}

let server: Server | undefined;
beforeAll(async () => { server = await startServer(); });
afterAll(() => stopServer(server));

describe('examples/server: answers', () => {
  it('64 concurrent requests (JSON and binary, layernorm and rmsnorm, 1 to 64 rows of 1 to 768 values) all match the reference', async () => {
    const rng = makeRng(5);
    const requests = Array.from({ length: 64 }, (_, k) => {
      const op = k % 2 === 0 ? 'layernorm' as const : 'rmsnorm' as const;
      const dim = [768, 384, 33, 1][k % 4];
      const rows = [1, 8, 64][k % 3];
      const data = randn(rng, 'float32', rows * dim, 3, 1) as Float32Array;
      const binary = k % 4 < 2;
      return { op, dim, rows, data, binary };
    });
    const replies = await Promise.all(requests.map(({ op, dim, rows, data, binary }) => binary
      ? postBinary(server!.url, `/${op}?dim=${dim}`, data.slice(), shapeHeader(rows, dim))
      : postJson(server!.url, `/${op}?dim=${dim}`, { data: Array.from(data), shape: [rows, dim] })));
    replies.forEach((r, k) => {
      const { op, dim, rows, data, binary } = requests[k];
      const what = `request ${k}: ${op} ${binary ? 'binary' : 'JSON'} [${rows}, ${dim}]`;
      expect(r.status, `${what}: ${r.body.toString().slice(0, 200)}`).toBe(200);
      const y = binary ? asFloat32(r.body) : Float32Array.from(json(r).data);
      if (binary) expect(r.headers['x-shape']).toBe(`${rows},${dim}`);
      else expect(json(r).shape).toEqual([rows, dim]);
      expectClose(y, expected(op, data, rows, dim), F32_TOL, what);
    });
  });

  it('a binary body without x-shape is rows of dim values', async () => {
    const data = randn(makeRng(6), 'float32', 3 * 16) as Float32Array;
    const r = await postBinary(server!.url, '/layernorm?dim=16&eps=0.001', data.slice());
    expect(r.status).toBe(200);
    expect(r.headers['x-shape']).toBe('3,16');
    expectClose(asFloat32(r.body), reference.layerNorm({ data, shape: [3, 16] }, 16, { eps: 0.001 }).y.data, F32_TOL);
  });

  it.each([
    ['dim not matching the shape', () => postJson(server!.url, '/layernorm?dim=4', { data: [1, 2, 3, 4, 5, 6], shape: [2, 3] }), 400, /^normalizedShape/],
    ['shape not matching the data', () => postJson(server!.url, '/rmsnorm?dim=3', { data: [1, 2, 3, 4, 5], shape: [2, 3] }), 400, /^x\.data/],
    ['negative eps', () => postJson(server!.url, '/layernorm?dim=2&eps=-1', { data: [1, 2] }), 400, /^eps/],
    ['missing dim', () => postJson(server!.url, '/layernorm', { data: [1, 2] }), 400, /^dim/],
    ['binary body not of float32 values', () => request(`${server!.url}/layernorm?dim=1`, 'POST', { 'content-type': 'application/octet-stream' }, Buffer.alloc(6)), 400, /float32/],
    ['invalid JSON', () => request(`${server!.url}/layernorm?dim=1`, 'POST', { 'content-type': 'application/json' }, '{"data": [1,'), 400, /JSON/],
    ['unknown content type', () => request(`${server!.url}/layernorm?dim=1`, 'POST', { 'content-type': 'text/plain' }, '1'), 415, /Content-Type/],
    ['unknown route', () => request(`${server!.url}/batchnorm?dim=1`, 'POST'), 404, /no route/],
  ] as const)('%s: status %i with a message naming the problem', async (_what, send, status, message) => {
    const r = await send();
    expect(r.status).toBe(status);
    expect(json(r).error).toMatch(message);
  });
});

interface DelayStats {
  p50: number;
  p99: number;
  max: number;
  samples: number;
  /** small requests answered while a large one was normalized, in each window */
  answers: number[];
}

/**
 * One large binary request, with the server's event-loop delay measured over its normalization
 * only: the body is sent but for its last value, and (once the server has read it) the stats are
 * reset; then the last value goes out, and the stats are read as soon as the response headers
 * arrive, which the server sends when the normalization is done. Uploading and downloading 100
 * MiB is event-loop work of its own, not what the promise API is about, and it is left out.
 */
async function normalizationWindow(s: Server, data: Float32Array): Promise<{ stats: DelayStats; y: Float32Array }> {
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const req = http.request(`${s.url}/layernorm?dim=${DIM}`, { method: 'POST', headers: {
    'content-type': 'application/octet-stream', 'content-length': String(body.length), 'x-shape': `${LARGE_ROWS},${DIM}` } });
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  await new Promise<void>((resolve) => req.write(body.subarray(0, body.length - 4), () => resolve()));
  await new Promise((resolve) => setTimeout(resolve, 200)); // the server drains what the sockets still hold
  await request(`${s.url}/stats?reset=1`, 'GET');
  req.end(body.subarray(body.length - 4));
  // small requests, one after another, until the large response starts: how many are answered first
  let done = false;
  let answers = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 }); // one connection: a request costs a round trip, no handshake
  const pings = (async () => {
    while (!done) {
      await request(`${s.url}/stats`, 'GET', {}, undefined, agent);
      if (!done) answers++;
    }
  })();
  const res = await response;
  done = true;
  res.pause();
  await pings;
  agent.destroy();
  const stats = { ...(json(await request(`${s.url}/stats`, 'GET')) as DelayStats), answers: [answers] };
  const chunks: Buffer[] = [];
  res.resume();
  for await (const chunk of res) chunks.push(chunk as Buffer);
  expect(res.statusCode).toBe(200);
  return { stats, y: asFloat32(Buffer.concat(chunks)) };
}

/** LARGE_REQUESTS windows; the figures of the worst one (p99 and max) and the samples of all. */
async function worstWindow(s: Server, data: Float32Array): Promise<DelayStats> {
  const windows: DelayStats[] = [];
  for (let k = 0; k < LARGE_REQUESTS; k++) {
    const { stats, y } = await normalizationWindow(s, data);
    windows.push(stats);
    if (k === 0) expectClose(y, expected('layernorm', data, LARGE_ROWS, DIM), F32_TOL, 'large request');
    else expect(y.length).toBe(data.length);
  }
  return {
    p50: Math.max(...windows.map((w) => w.p50)),
    p99: Math.max(...windows.map((w) => w.p99)),
    max: Math.max(...windows.map((w) => w.max)),
    samples: windows.reduce((n, w) => n + w.samples, 0),
    answers: windows.flatMap((w) => w.answers),
  };
}

function describeStats(api: string, stats: DelayStats): string {
  return `${api} server, ${LARGE_REQUESTS} requests of [${LARGE_ROWS}, ${DIM}] float32 (${(LARGE_ROWS * DIM * 4 / 2 ** 20).toFixed(0)} MiB): ` +
    `event-loop delay while normalizing, worst request: p50 ${stats.p50.toFixed(2)} ms, p99 ${stats.p99.toFixed(2)} ms, ` +
    `max ${stats.max.toFixed(2)} ms (${stats.samples} samples of 1 ms resolution in all); small requests answered while normalizing: ` +
    `${stats.answers.join(', ')}`;
}

describe('examples/server: the event loop stays responsive while large batches are normalized', () => {
  const data = new Float32Array(LARGE_ROWS * DIM);
  beforeAll(() => {
    for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761) % 4093) / 1000 - 2; // cheap, varied rows
  });

  // Both servers normalize with one thread (--threads 1): the sync server's event loop then waits
  // 12-22 ms per request, and what the promise server's delay shows is whether it waits, not how two
  // kernel threads and the event loop share two cores.
  let syncServer: Server | undefined;
  let promiseServer: Server | undefined;
  beforeAll(async () => {
    [promiseServer, syncServer] = await Promise.all([startServer(['--threads', '1']), startServer(['--threads', '1', '--sync'])]);
  });
  afterAll(() => {
    stopServer(promiseServer);
    stopServer(syncServer);
  });

  it(`promise API: the server answers other requests while it normalizes each of ${LARGE_REQUESTS} large ones`, async () => {
    const stats = await worstWindow(promiseServer!, data);
    console.log(describeStats('promise API', stats));
    expect(stats.answers.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(MIN_ANSWERS * LARGE_REQUESTS);
  });

  it('sync API, for comparison (printed, not asserted)', async () => {
    console.log(describeStats('sync API', await worstWindow(syncServer!, data)));
  });
});

/** The x-shape header of a test batch; the 8-row batches leave it out (rows = values / dim). */
function shapeHeader(rows: number, dim: number): number[] | undefined {
  return rows === 8 ? undefined : [rows, dim];
}

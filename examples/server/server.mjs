// An embedding-normalization service on node:http with fastnorm's promise API: the kernels run
// on the libuv thread pool, so the event loop keeps accepting and answering requests while a
// large batch is normalized.
//
//   node examples/server/server.mjs [--port 8080] [--host 127.0.0.1] [--threads n] [--sync]
//
// Protocol (rows of `dim` values; LayerNorm or RMSNorm over each row, no affine parameters):
//
//   POST /layernorm?dim=768[&eps=1e-5]      POST /rmsnorm?dim=768[&eps=1e-6]
//     Content-Type: application/json         { "data": [...numbers], "shape": [rows, 768] }
//       → 200 application/json               { "data": [...], "shape": [rows, 768] }
//     Content-Type: application/octet-stream raw float32, little-endian, row-major;
//                                            header x-shape: rows,768 (optional: rows = values / dim)
//       → 200 application/octet-stream       float32 little-endian, header x-shape
//   GET /stats[?reset=1]                     event-loop delay since the last reset, in ms:
//       → 200 application/json               { "api", "p50", "p99", "max", "samples" }
//
// Bad input (wrong shape, dim not matching, eps < 0, ...) answers 400 with { "error": message }:
// fastnorm's TypeError/RangeError names the argument. JSON is convenient for small batches, but
// JSON.parse of a large body runs on the event loop; send large batches as binary.
//
// --threads sets fastnorm.setNumThreads (threads per normalization; default: every core). Fewer
// than the cores leaves a core to the event loop while one large batch is normalized; concurrent
// requests still use every core (fastnorm runs at most as many kernel threads as there are cores).
//
// --sync uses the synchronous API instead (the event loop waits for every normalization); it is
// there to compare event-loop delays (GET /stats), not for production.
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as fastnormPromises from 'fastnorm/promises';
import * as fastnormSync from 'fastnorm';

const MAX_BODY_BYTES = 512 * 1024 * 1024;

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * Request bodies are read into pooled ArrayBuffers and normalized in place. A fresh 100 MiB
 * buffer costs a page fault per 4 KiB when it is first written and an munmap when the garbage
 * collector frees it (milliseconds each, on the event loop), and its external memory makes V8
 * collect more often; a reused one costs none of that. A buffer returns to the pool once its
 * response has been sent.
 */
class BufferPool {
  constructor(maxBuffers) {
    this.maxBuffers = maxBuffers;
    this.free = [];
  }

  take(bytes) {
    const i = this.free.findIndex((b) => b.byteLength >= bytes);
    return i >= 0 ? this.free.splice(i, 1)[0] : new ArrayBuffer(bytes);
  }

  give(buffer) {
    if (this.free.length < this.maxBuffers) this.free.push(buffer);
  }
}

/** The request body in one pooled buffer: { buffer, length } (copied chunk by chunk: no step blocks for long). */
async function readBody(req, pool) {
  const declared = Number(req.headers['content-length']);
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
  let buffer = pool.take(Number.isSafeInteger(declared) && declared > 0 ? declared : 64 * 1024);
  let length = 0;
  try {
    for await (const chunk of req) {
      if (length + chunk.length > buffer.byteLength) {
        if (length + chunk.length > MAX_BODY_BYTES) throw new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
        const grown = pool.take(Math.max(buffer.byteLength * 2, length + chunk.length));
        new Uint8Array(grown).set(new Uint8Array(buffer, 0, length));
        pool.give(buffer);
        buffer = grown;
      }
      new Uint8Array(buffer, length, chunk.length).set(chunk);
      length += chunk.length;
    }
  } catch (e) {
    pool.give(buffer);
    throw e;
  }
  return { buffer, length };
}

function parseShape(text, length, dim) {
  if (text === undefined) {
    if (length % dim !== 0) throw new HttpError(400, `the body holds ${length} values, not a multiple of dim ${dim}`);
    return [length / dim, dim];
  }
  return String(text).split(',').map((d) => Number(d.trim()));
}

/**
 * The tensor of a request: binary float32 (x-shape header), a view of the pooled body buffer
 * (`buffer` is to be given back to the pool after the response), or JSON { data, shape }.
 */
async function readTensor(req, dim, pool) {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim();
  if (type !== 'application/octet-stream' && type !== 'application/json')
    throw new HttpError(415, 'Content-Type must be application/json or application/octet-stream');
  const { buffer, length } = await readBody(req, pool);
  if (type === 'application/octet-stream') {
    if (length % 4 !== 0) {
      pool.give(buffer);
      throw new HttpError(400, 'a binary body must be float32 values (a multiple of 4 bytes)');
    }
    const data = new Float32Array(buffer, 0, length / 4);
    return { x: { data, shape: parseShape(req.headers['x-shape'], data.length, dim) }, buffer };
  }
  let parsed;
  try {
    parsed = JSON.parse(Buffer.from(buffer, 0, length).toString('utf8'));
  } catch {
    throw new HttpError(400, 'the body is not valid JSON');
  } finally {
    pool.give(buffer);
  }
  if (!Array.isArray(parsed?.data)) throw new HttpError(400, 'JSON body must be { "data": [numbers], "shape": [rows, dim] }');
  const data = Float32Array.from(parsed.data);
  return { x: { data, shape: parsed.shape ?? parseShape(undefined, data.length, dim) }, buffer: null };
}

/**
 * The request handler and its event-loop monitor. `api` is fastnorm/promises (the default) or the
 * synchronous fastnorm (awaiting a plain value works the same).
 */
export function createNormalizeServer({ sync = false } = {}) {
  const api = sync ? fastnormSync : fastnormPromises;
  const ops = { '/layernorm': api.layerNorm, '/rmsnorm': api.rmsNorm };
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const pool = new BufferPool(4);

  async function handle(req, res) {
    const url = new URL(req.url, 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/stats') {
      const ms = (ns) => ns / 1e6;
      const stats = { api: sync ? 'sync' : 'promises', p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max),
        samples: delay.count };
      if (url.searchParams.get('reset') === '1') delay.reset();
      return send(res, 200, stats);
    }
    const op = ops[url.pathname];
    if (!op) throw new HttpError(404, `no route ${url.pathname} (POST /layernorm, POST /rmsnorm, GET /stats)`);
    if (req.method !== 'POST') throw new HttpError(405, `${url.pathname} takes POST`);
    const dim = Number(url.searchParams.get('dim'));
    if (!Number.isSafeInteger(dim) || dim < 1) throw new HttpError(400, 'dim must be a positive integer (e.g. ?dim=768)');
    const eps = url.searchParams.has('eps') ? Number(url.searchParams.get('eps')) : undefined;
    const { x, buffer } = await readTensor(req, dim, pool);
    if (!buffer) {
      const { y } = await op(x, dim, { eps });
      return send(res, 200, { data: Array.from(y.data), shape: y.shape });
    }
    // the buffer is free again once the normalization has settled and the response is closed
    // (sent, or the client went away: the kernel may still be writing into it then)
    const closed = new Promise((resolve) => res.once('close', resolve));
    try {
      // in place: the request's own buffer receives the result, nothing else is allocated
      const { y } = await op(x, dim, { eps, out: { y: x.data } });
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-shape': y.shape.join(',') });
      res.end(Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
    } finally {
      closed.then(() => pool.give(buffer));
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      const status = e instanceof HttpError ? e.status : e instanceof TypeError || e instanceof RangeError ? 400 : 500;
      if (status === 500) console.error(e);
      if (!res.headersSent) send(res, status, { error: e.message });
      else res.destroy();
    });
  });
  server.on('close', () => delay.disable());
  return server;
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const sync = process.argv.includes('--sync');
  const threads = option('threads', undefined);
  if (threads !== undefined) fastnormPromises.setNumThreads(Number(threads));
  const server = createNormalizeServer({ sync });
  server.listen(Number(option('port', process.env.PORT ?? '8080')), option('host', process.env.HOST ?? '127.0.0.1'), () => {
    const { address, port } = server.address();
    const { backend, isa, threads } = fastnormSync.info();
    console.log(`fastnorm server listening on http://${address}:${port} (${sync ? 'sync' : 'promise'} API, ${backend}/${isa}, ${threads} threads)`);
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => server.close(() => process.exit(0)));
}

// One data-parallel worker of main.mjs: owns samples [n0, n1) of the shared batch and answers
// the main thread's requests with fastnorm's synchronized-BatchNorm building blocks.
import { parentPort, workerData } from 'node:worker_threads';
import * as fastnorm from 'fastnorm';

// The parallelism is the workers themselves: one fastnorm thread each.
fastnorm.setNumThreads(1);

const { buffers, shape, layout, n0, n1 } = workerData;
const perSample = shape.slice(1).reduce((a, d) => a * d, 1);
const shardShape = [n1 - n0, ...shape.slice(1)];
/** This worker's samples of a shared buffer, as a tensor (a view: no copy). */
const shard = (sab) => ({
  data: new Float32Array(sab, n0 * perSample * Float32Array.BYTES_PER_ELEMENT, (n1 - n0) * perSample),
  shape: shardShape,
});
const x = shard(buffers.x);
const dy = shard(buffers.dy);
const y = shard(buffers.y).data;
const dx = shard(buffers.dx).data;

parentPort.on('message', (request) => {
  switch (request.op) {
    case 'stats': {
      const { count, mean, m2 } = fastnorm.batchNormStats(x, { layout });
      parentPort.postMessage({ count, mean, m2 }, [mean.buffer, m2.buffer]);
      break;
    }
    case 'elemt': {
      // normalize with the statistics of the whole batch, straight into the shared output
      const { weight, bias, stats } = request;
      fastnorm.batchNormElemt(x, stats, { weight, bias, layout, out: { y } });
      parentPort.postMessage('done');
      break;
    }
    case 'reduce': {
      const { sumDy, sumDyXmu } = fastnorm.batchNormBackwardReduce(dy, x, { mean: request.mean }, { layout });
      parentPort.postMessage({ sumDy, sumDyXmu }, [sumDy.buffer, sumDyXmu.buffer]);
      break;
    }
    case 'backwardElemt': {
      const { stats, sums, weight } = request;
      const { dweight, dbias } = fastnorm.batchNormBackwardElemt(dy, x, stats, sums, { weight, layout, out: { dx } });
      parentPort.postMessage({ dweight, dbias });
      break;
    }
    default:
      throw new Error(`unknown request ${request.op}`);
  }
});

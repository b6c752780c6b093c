// A worker thread of the study: builds the (seeded) datasets once, then runs the studies it is sent.
import { parentPort, workerData } from 'node:worker_threads';
import * as fastnorm from 'fastnorm';
import { makeDataset } from './data.mjs';
import { runStudy } from './study.mjs';

fastnorm.setNumThreads(1); // one run per core: the workers are the parallelism
const { trainSize, testSize, seed } = workerData;
const train = makeDataset(trainSize, seed);
const test = makeDataset(testSize, seed + 1);
parentPort.on('message', (task) => {
  const started = performance.now();
  const result = runStudy({ ...task, train, test });
  parentPort.postMessage({ ...result, seconds: (performance.now() - started) / 1000 });
});

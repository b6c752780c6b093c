// The synthetic task: 2-channel signals of length L, six classes — a frequency of 2, 3 or 4 cycles,
// with the second channel in phase or in antiphase with the first — under a random amplitude,
// phase and offset per channel, and strong noise. Seeded: the same data on every run.
import { rng } from './net.mjs';

export const CLASSES = 6;
export const CHANNELS = 2;
export const LENGTH = 24;
const NOISE = 1.2;

export function makeDataset(count, seed) {
  const random = rng(seed);
  const x = new Float32Array(count * CHANNELS * LENGTH);
  const labels = new Int32Array(count);
  for (let s = 0; s < count; s++) {
    const label = Math.floor(random.uniform() * CLASSES);
    labels[s] = label;
    const cycles = 2 + (label >> 1);
    const sign = label % 2 === 0 ? 1 : -1;
    const phase = 2 * Math.PI * random.uniform();
    const amplitude = [0.5 + 1.5 * random.uniform(), 0.5 + 1.5 * random.uniform()];
    const offset = [random.normal(), random.normal()];
    for (let c = 0; c < CHANNELS; c++) {
      for (let t = 0; t < LENGTH; t++) {
        const wave = Math.sin((2 * Math.PI * cycles * t) / LENGTH + phase) * (c === 0 ? 1 : sign);
        x[(s * CHANNELS + c) * LENGTH + t] = amplitude[c] * wave + offset[c] + NOISE * random.normal();
      }
    }
  }
  return { x, labels, count };
}

/** Samples [from, to) of a dataset in the given order, as a batch tensor and its labels. */
export function batchOf(dataset, order, from, to) {
  const per = CHANNELS * LENGTH;
  const x = new Float32Array((to - from) * per);
  const labels = new Int32Array(to - from);
  for (let i = from; i < to; i++) {
    const s = order[i];
    x.set(dataset.x.subarray(s * per, (s + 1) * per), (i - from) * per);
    labels[i - from] = dataset.labels[s];
  }
  return { x: { data: x, shape: [to - from, CHANNELS, LENGTH] }, labels };
}

// GroupNormalization, which tf.layers lacks, with Keras 3's arguments, defaults, weights and
// config (keras.layers.GroupNormalization): statistics per (sample, group of C/G channels) over
// the group's channels and every other non-batch axis; gamma and beta per channel.
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { LayerVariable, Shape } from '@tensorflow/tfjs-layers';
import type { LayerArgs } from '@tensorflow/tfjs-layers/dist/engine/topology';
import type { BatchNormalization as StockBatchNormalization, BatchNormalizationLayerArgs } from '@tensorflow/tfjs-layers/dist/layers/normalization';
import type { Kwargs } from '@tensorflow/tfjs-layers/dist/types';
import { impl } from '../implementation.js';
import { fastnormOp, layerCall, oneTensor, product, resultArray, stockLayerClass, withAxesLast } from './shared.js';

type AffineArgs = Pick<BatchNormalizationLayerArgs, 'betaInitializer' | 'gammaInitializer' | 'betaRegularizer' |
  'gammaRegularizer' | 'betaConstraint' | 'gammaConstraint'>;

/** Keras 3's GroupNormalization arguments, in tf.layers' camelCase. */
export interface GroupNormalizationLayerArgs extends LayerArgs, AffineArgs {
  /** Number of groups; must divide the channel count. −1: one group per channel (instance normalization). Default 32. */
  groups?: number;
  /** The channel axis (an integer; −1, the last, by default). */
  axis?: number;
  /** Added to the variance. Default 1e-3. */
  epsilon?: number;
  /** Add the per-channel offset beta. Default true. */
  center?: boolean;
  /** Multiply by the per-channel gamma. Default true. */
  scale?: boolean;
}

const StockBatchNormalizationClass = stockLayerClass<typeof StockBatchNormalization>('BatchNormalization');

/** The fields tf.layers' BatchNormalization sets from the initializer/regularizer/constraint arguments. */
interface AffineFields {
  betaInitializer: unknown;
  gammaInitializer: unknown;
  betaRegularizer: unknown;
  gammaRegularizer: unknown;
  betaConstraint: unknown;
  gammaConstraint: unknown;
}
const AFFINE_KEYS = ['betaInitializer', 'gammaInitializer', 'betaRegularizer', 'gammaRegularizer', 'betaConstraint',
  'gammaConstraint'] as const;

/**
 * Group normalization of x over `groups` groups of the channel axis `axis` (≥ 1, non-negative).
 * Channels-last and channels-first (axis 1) are one fastnorm call each; another axis is moved last and back.
 */
export function groupNormalizationOp(x: Tensor, axis: number, groups: number, gamma: Tensor | null, beta: Tensor | null,
  epsilon: number): Tensor {
  const channelsFirst = axis === 1 && x.rank > 2;
  return withAxesLast(x, channelsFirst ? [] : [axis], (xt) => {
    const n = xt.shape[0];
    const c = xt.shape[channelsFirst ? 1 : xt.rank - 1];
    const spatial = product(channelsFirst ? xt.shape.slice(2) : xt.shape.slice(1, -1));
    const shape = channelsFirst ? [n, c, spatial] : [n, spatial, c];
    const layout = channelsFirst ? 'NCHW' as const : 'NHWC' as const;
    const inputs = [xt, ...(gamma ? [gamma] : []), ...(beta ? [beta] : [])];
    return fastnormOp(inputs, xt.shape, ([xv, ...params]) => {
      const weight = gamma ? params[0] : undefined;
      const bias = beta ? params[gamma ? 1 : 0] : undefined;
      const xT = { data: xv, shape };
      const y = resultArray(xv.length);
      const saved = impl().groupNorm(xT, groups, { weight, bias, eps: epsilon, layout, out: { y } });
      return {
        y,
        backward: (dy) => {
          const g = impl().groupNormBackward({ data: dy, shape }, xT, saved, groups, {
            weight, layout, grads: { weight: gamma !== null, bias: beta !== null },
            out: { dx: resultArray(xv.length), dweight: gamma ? resultArray(c) : undefined, dbias: beta ? resultArray(c) : undefined },
          });
          return [g.dx.data as Float32Array, ...(g.dweight ? [g.dweight as Float32Array] : []),
            ...(g.dbias ? [g.dbias as Float32Array] : [])];
        },
      };
    });
  });
}

/**
 * Keras 3's formula in TF.js ops, for backends fastnorm does not compute on (and as the tests'
 * oracle): x reshaped to (N, …, G, C/G), moments over all but the batch and group axes.
 */
export function groupNormalizationInTfjsOps(x: Tensor, axis: number, groups: number, gamma: Tensor | null,
  beta: Tensor | null, epsilon: number): Tensor {
  return tf.tidy(() => {
    const c = x.shape[axis];
    const grouped = [...x.shape.slice(0, axis), groups, c / groups, ...x.shape.slice(axis + 1)];
    const xg = tf.reshape(x, grouped);
    const reduce = [...Array(xg.rank).keys()].filter((a) => a !== 0 && a !== axis);
    const { mean, variance } = tf.moments(xg, reduce, true);
    const broadcast = grouped.map((d, i) => (i === axis || i === axis + 1 ? d : 1));
    let inv = tf.rsqrt(tf.add(variance, epsilon));
    if (gamma) inv = tf.mul(inv, tf.reshape(gamma, broadcast));
    let shift = tf.neg(tf.mul(mean, inv));
    if (beta) shift = tf.add(shift, tf.reshape(beta, broadcast));
    return tf.reshape(tf.add(tf.mul(xg, inv), shift), x.shape);
  });
}

function checkInteger(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`GroupNormalization: ${name} must be an integer, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Group normalization (Wu & He, 2018), which tf.layers lacks, computed by fastnorm, with Keras 3's
 * arguments and defaults (groups 32, axis −1, epsilon 1e-3, center and scale true; groups −1 =
 * instance normalization), weights (gamma, beta: one per channel) and config, so a Keras 3 model
 * with GroupNormalization layers loads. Registered for serialization as 'GroupNormalization'.
 * Initializer, regularizer and constraint arguments are read by tf.layers' own parser (strings,
 * objects and configs mean what they mean in tf.layers). On a backend fastnorm is not registered
 * for, Keras's formula runs in TF.js ops (counted in getCounters).
 * @example
 * import * as tfl from '@tensorflow/tfjs-layers';
 * import { GroupNormalization } from 'fastnorm/tfjs';
 *
 * const model = tfl.sequential({ layers: [
 *   tfl.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', inputShape: [32, 32, 3] }),
 *   new GroupNormalization({ groups: 8 }),
 *   tfl.layers.activation({ activation: 'swish' }),
 * ] });
 */
export class GroupNormalization extends tfl.layers.Layer {
  static className = 'GroupNormalization';
  groups: number;
  readonly axis: number;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  private readonly affine: AffineFields;
  /** tf.layers' serialized forms of the affine arguments, for getConfig. */
  private readonly affineConfig: Record<(typeof AFFINE_KEYS)[number], unknown>;
  private gamma: LayerVariable | null = null;
  private beta: LayerVariable | null = null;

  constructor(args: GroupNormalizationLayerArgs = {}) {
    super(args);
    this.supportsMasking = true;
    this.groups = checkInteger('groups', args.groups ?? 32);
    if (this.groups === 0 || this.groups < -1) throw new Error(`GroupNormalization: groups must be a positive integer or -1, got ${this.groups}`);
    this.axis = checkInteger('axis', args.axis ?? -1);
    this.epsilon = args.epsilon ?? 1e-3;
    this.center = args.center ?? true;
    this.scale = args.scale ?? true;
    // tfjs-layers keeps its argument parsers private; its BatchNormalization applies them to the
    // same six arguments (and to Keras's defaults, zeros and ones).
    const affineArgs: AffineArgs = {};
    for (const key of AFFINE_KEYS) if (args[key] !== undefined) (affineArgs as Record<string, unknown>)[key] = args[key];
    const parser = new StockBatchNormalizationClass({ ...affineArgs, name: `${this.name}_arguments` });
    this.affine = parser as unknown as AffineFields;
    const parsed = parser.getConfig();
    this.affineConfig = Object.fromEntries(AFFINE_KEYS.map((k) => [k, parsed[k]])) as GroupNormalization['affineConfig'];
  }

  private channelAxis(rank: number): number {
    const axis = this.axis < 0 ? this.axis + rank : this.axis;
    if (axis < 1 || axis >= rank)
      throw new Error(`GroupNormalization: axis ${this.axis} is not a channel axis of a rank-${rank} input (axis 0 is the batch)`);
    return axis;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const axis = this.channelAxis(shape.length);
    const dim = shape[axis];
    if (dim == null)
      throw new Error(`Axis ${this.axis} of input tensor should have a defined dimension but the layer received an input with shape ${JSON.stringify(shape)}.`);
    if (this.groups === -1) this.groups = dim;
    if (dim < this.groups) throw new Error(`Number of groups (${this.groups}) cannot be more than the number of channels (${dim}).`);
    if (dim % this.groups !== 0) throw new Error(`Number of groups (${this.groups}) must be a multiple of the number of channels (${dim}).`);
    this.inputSpec = [new tfl.InputSpec({ ndim: shape.length, axes: { [axis]: dim } })];
    const a = this.affine as never as Record<string, never>;
    if (this.scale) this.gamma = this.addWeight('gamma', [dim], 'float32', a.gammaInitializer, a.gammaRegularizer, true, a.gammaConstraint);
    if (this.center) this.beta = this.addWeight('beta', [dim], 'float32', a.betaInitializer, a.betaRegularizer, true, a.betaConstraint);
    this.built = true;
  }

  override call(inputs: Tensor | Tensor[], _kwargs: Kwargs): Tensor | Tensor[] {
    const x = oneTensor(inputs);
    const axis = this.channelAxis(x.rank);
    const gamma = () => this.gamma?.read() ?? null;
    const beta = () => this.beta?.read() ?? null;
    return layerCall('groupNormalization', x, this.epsilon,
      () => groupNormalizationInTfjsOps(x, axis, this.groups, gamma(), beta(), this.epsilon),
      () => groupNormalizationOp(x, axis, this.groups, gamma(), beta(), this.epsilon));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      groups: this.groups, axis: this.axis, epsilon: this.epsilon, center: this.center, scale: this.scale,
      ...this.affineConfig,
      ...super.getConfig(),
    } as tf.serialization.ConfigDict;
  }
}

/**
 * Creates a {@link GroupNormalization} layer (the factory tf.layers would have).
 * @example
 * const gn = groupNormalization({ groups: 32, epsilon: 1e-5 });
 * const y = gn.apply(tf.randomNormal([2, 64, 64, 320]));
 */
export function groupNormalization(args?: GroupNormalizationLayerArgs): GroupNormalization {
  return new GroupNormalization(args);
}

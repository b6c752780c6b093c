// Channel layouts of batch/instance/group norm: 'NCHW' = (N, C, *spatial), 'NHWC' = (N, *spatial, C).
import type { Layout } from './types.js';

export type { Layout };

/** A tensor seen as N samples × C channels × S spatial positions, in its layout. */
export interface ChannelShape {
  n: number;
  c: number;
  s: number;
  channelsLast: boolean;
}

export function checkLayout(v: unknown): Layout {
  if (v === undefined) return 'NCHW';
  if (v !== 'NCHW' && v !== 'NHWC') throw new TypeError(`layout must be 'NCHW' or 'NHWC', got ${typeof v === 'string' ? `'${v}'` : typeof v}`);
  return v;
}

/** (N, C, S) of a shape with at least 2 dims, in the given layout. */
export function channelShape(shape: readonly number[], layout: Layout, name = 'x'): ChannelShape {
  if (shape.length < 2)
    throw new RangeError(`${name}.shape [${shape.join(', ')}] must have at least 2 dims (N, C, *spatial) for layout ${layout}`);
  const channelsLast = layout === 'NHWC';
  const c = channelsLast ? shape[shape.length - 1] : shape[1];
  let s = 1;
  for (let i = channelsLast ? 1 : 2; i < (channelsLast ? shape.length - 1 : shape.length); i++) s *= shape[i];
  return { n: shape[0], c, s, channelsLast };
}

/** { n, c, s, channelsLast }: how a ChannelShape is passed to the kernels. */
export function channelArgs(s: ChannelShape): ChannelShape {
  return { n: s.n, c: s.c, s: s.s, channelsLast: s.channelsLast };
}

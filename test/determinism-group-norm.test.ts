// Every ISA × threads gives the same bits (determinism-ops.ts): GroupNorm and InstanceNorm (and any op the other two families do not take).
import { describeOpDeterminism, OP_FAMILIES } from './determinism-ops';

describeOpDeterminism(OP_FAMILIES.rest);

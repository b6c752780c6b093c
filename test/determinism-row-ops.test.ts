// Every ISA × threads gives the same bits (determinism-ops.ts): LayerNorm, RMSNorm and the residual add-norms, forward and backward.
import { describeOpDeterminism, OP_FAMILIES } from './determinism-ops';

describeOpDeterminism(OP_FAMILIES.rows);

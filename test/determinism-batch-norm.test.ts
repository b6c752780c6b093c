// Every ISA × threads gives the same bits (determinism-ops.ts): BatchNorm and the sync-BN blocks.
import { describeOpDeterminism, OP_FAMILIES } from './determinism-ops';

describeOpDeterminism(OP_FAMILIES.batchNorm);

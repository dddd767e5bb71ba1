// Entry point of the AssemblyScript kernel module (built by `npm run build:wasm`). Memory is
// imported from JS and managed there (runtime/backend/wasm/memory.ts); nothing here allocates.
// (AssemblyScript resolves imports without the .ts extension the TypeScript side uses.)

export { packX, matmulF32, matmulIlvF32, matmulIlvF16, matmulIlvBf16 } from './matmul';
export { packQ, qmatmulQ8, qmatmulQ4, qmatmulNNQ8, qmatmulNNQ4 } from './qmatmul';
export { interleaveWeight, deinterleaveWeight } from './layout';
export { embedding, rmsNorm, rope, kvWrite, swiglu, geglu, addInPlace, gatherRows, softmax, argmax } from './ops';
export { attention, attentionGroups, attentionScratchFloats } from './attention';
export { expOne } from './expv';
export { fmaPeak, readSum, clockChain } from './probe';
export { contrast } from './contrast';
export { matmulNNF32, matmulNNF16, matmulNNBf16, matmulTN, matmulNNScratchBytes } from './train';
export { fill, axpy, rmsNormBackward, swigluBackward, gegluBackward, ropeBackward, scatterAddRows, softLabelLoss, dropout, sumSquares, adamw } from './train-ops';
export { attentionBackwardQ, attentionBackwardKV } from './train-attention';

/** First byte the JS allocator may use: everything below holds the module's static data. */
export function heapBase(): usize {
  return __heap_base;
}

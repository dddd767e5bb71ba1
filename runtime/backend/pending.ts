// TEMPORARY (issue 26, the kernels being added): an op option a backend does not run yet. Removed
// when every backend implements the architecture-spec ops (sliding window, GELU-tanh GLU, scaled
// embeddings).
export function pending(op: string): never {
  throw new Error(`${op}: not implemented on this backend yet`);
}

// The portable API: everything here runs in Node, Deno and the browser. Host I/O comes in through
// a Platform (see runtime/entry/* for the ready-made ones chosen by the package's exports).
export { createBackend, BACKEND_CHOICES, type BackendChoice } from './backend/index.ts';
export type { Backend, BackendInfo, Tensor } from './backend/types.ts';
export { ReferenceBackend } from './backend/reference.ts';
export { LightReasonerError, type ErrorCode } from './errors.ts';
export type { Platform, FileSystem } from './platform/types.ts';
export { parseConfig, type ModelConfig } from './model/config.ts';
export { CausalLM, loadModel, type LoadModelOptions, type KVCache } from './model/model.ts';
export { generateGreedy, type GenerateOptions, type GenerateResult } from './model/generate.ts';
export { ModelTokenizer, type ChatMessage } from './model/tokenizer.ts';
export { readSafetensorsHeader, encodeSafetensors } from './io/safetensors.ts';
export { openModel, type OpenModelOptions } from './session.ts';

// Models and data sets by name from the Hugging Face Hub (or a mirror), cached in huggingface_hub's
// layout. Portable: the host's cache operations come in as a HubFileSystem
// (runtime/platform/node-hub.ts for Node and Deno); browsers use hubModelUrl.
export { resolveModel, hubModelUrl, type ResolvedModel } from './model.ts';
export { resolveDataset, datasetJsonl, parquetToJsonl, type ResolvedDataset } from './dataset.ts';
export type { RepoRef, DatasetRef } from './ids.ts';
export type { HubFileSystem, HubOptions, HubProgress, AppendStream } from './types.ts';

// Models and data sets by name from the Hugging Face Hub (or a mirror), cached in huggingface_hub's
// layout. Portable: the host's cache operations come in as a HubFileSystem
// (runtime/platform/node-hub.ts for Node and Deno); browsers use hubModelUrl.
export { resolveModel, hubModelUrl, isModelId, missingModelFiles, type ResolvedModel } from './model.ts';
export { resolveDataset, datasetJsonl, parquetToJsonl, chooseParquet, type ResolvedDataset } from './dataset.ts';
export { parseModelId, parseDatasetUri, repoFolderName, type RepoRef, type DatasetRef } from './ids.ts';
export { DEFAULT_ENDPOINT, type HubFileSystem, type HubOptions, type HubProgress, type AppendStream } from './types.ts';

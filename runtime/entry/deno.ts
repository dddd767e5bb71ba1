// Entry for Deno (`exports` condition "deno"): Deno runs node:fs through its Node layer and has
// navigator.gpu natively, which the Node adapter prefers over Dawn.
export * from '../index.ts';
export { nodePlatform as platform } from '../platform/node.ts';
export { nodeHubFileSystem, hubEnvironment, type HubEnvironment } from '../platform/node-hub.ts';
export { defaultPair, copyDefaultPair } from '../platform/node-default-pair.ts';
export { DEFAULT_PAIR_FILES, type DefaultPair } from '../platform/types.ts';

// Entry for Node (`exports` condition "node"): the portable API plus the Node platform adapter.
export * from '../index.ts';
export { nodePlatform as platform } from '../platform/node.ts';
export { nodeHubFileSystem, hubEnvironment, type HubEnvironment } from '../platform/node-hub.ts';
export { defaultPair, copyDefaultPair } from '../platform/node-default-pair.ts';
export { DEFAULT_PAIR_FILES, type DefaultPair } from '../platform/types.ts';

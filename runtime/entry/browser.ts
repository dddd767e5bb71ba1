// Entry for browsers and bundlers (`exports` conditions "browser"/"default"): `platform` reads URLs
// with fetch and keeps outputs in memory; createBrowserPlatform({ storage: 'opfs' }) persists them.
export * from '../index.ts';
export { browserPlatform as platform, createBrowserPlatform, type BrowserPlatformOptions, type BrowserStorage } from '../platform/browser.ts';
export type { BrowserHubOptions } from '../platform/browser-hub.ts';
export { opfsFileSystem } from '../platform/opfs-fs.ts';
export { defaultPair } from '../platform/browser-default-pair.ts';
export { DEFAULT_PAIR_FILES, type DefaultPair } from '../platform/types.ts';

// Entry for browsers and bundlers (`exports` conditions "browser"/"default").
export * from '../index.ts';
export { browserPlatform as platform } from '../platform/browser.ts';

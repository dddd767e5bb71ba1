// The app's worker: the engine runs here, off the page's main thread (the page stays responsive,
// and only a worker may block, which the Wasm backend's threads need). Outputs go to the Origin
// Private File System, so a reload can resume the run.
import { createBrowserPlatform, serveEngine } from 'lightreasoner-wasm';

serveEngine(self as unknown as Parameters<typeof serveEngine>[0], createBrowserPlatform({ storage: 'opfs', opfsDirectory: 'lightreasoner-example' }));

// Browser side of the Hub test (test/hub-browser.test.ts): a model by Hub id, through hubModelUrl
// and the browser platform's cached, token-aware reads, generating a few tokens.
import { hubModelUrl } from '../../runtime/hub/model.ts';
import { createBrowserPlatform } from '../../runtime/platform/browser.ts';
import { openModel } from '../../runtime/session.ts';
import { generateGreedy } from '../../runtime/model/generate.ts';

async function runHub(endpoint: string, name: string, token?: string): Promise<{ tokens?: number[]; url?: string; error?: string; code?: string }> {
  try {
    const { url } = await hubModelUrl(name, { endpoint, token });
    const platform = await createBrowserPlatform({ hub: { endpoint, token } });
    const model = await openModel(url, { platform, backend: 'reference' });
    try {
      const { tokens } = await generateGreedy(model, [model.tokenizer.encode('Tom has 3 boxes')], { maxNewTokens: 4 });
      return { tokens: tokens[0], url };
    } finally {
      model.dispose();
    }
  } catch (e) {
    return { error: (e as Error).message, code: (e as { code?: string }).code };
  }
}

(globalThis as { runHub?: typeof runHub }).runHub = runHub;

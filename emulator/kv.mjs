// Workers KV for the emulator: real Miniflare KV namespaces persisted on disk.

import { Miniflare } from "miniflare";

// Miniflare needs a Worker to host the namespaces; the emulator never calls it.
const IDLE_WORKER = "export default { fetch() { return new Response(null, { status: 404 }); } };";

/**
 * The binding object handed to the Worker.
 *
 * The `workers` SDK wraps a binding by its JS constructor name (`KvNamespace`)
 * so that Python gets Python values back (`get(type="json")` gives a dict).
 * Miniflare's proxy reports the name "constructor", which the SDK passes
 * through raw, so this class forwards to the proxy under the name workerd uses.
 * Checked with workers-runtime-sdk 1.9.5 and miniflare 4.20260730.0.
 */
export class KvNamespace {
  #proxy;

  constructor(proxy) {
    this.#proxy = proxy;
  }

  get(key, options) {
    return this.#proxy.get(key, options);
  }

  getWithMetadata(key, options) {
    return this.#proxy.getWithMetadata(key, options);
  }

  put(key, value, options) {
    return this.#proxy.put(key, value, options);
  }

  delete(key) {
    return this.#proxy.delete(key);
  }

  list(options) {
    return this.#proxy.list(options);
  }
}

/**
 * Start Miniflare with one KV namespace per binding name, stored under
 * `persistDir`, and return {bindings: {NAME: KvNamespace}, dispose()}.
 */
export async function startKv(bindingNames, persistDir) {
  const miniflare = new Miniflare({
    modules: true,
    script: IDLE_WORKER,
    host: "127.0.0.1",
    port: 0,
    kvNamespaces: bindingNames,
    kvPersist: persistDir,
  });
  try {
    const bindings = {};
    for (const name of bindingNames) {
      bindings[name] = new KvNamespace(await miniflare.getKVNamespace(name));
    }
    return { bindings, dispose: () => miniflare.dispose() };
  } catch (error) {
    await miniflare.dispose();
    throw error;
  }
}

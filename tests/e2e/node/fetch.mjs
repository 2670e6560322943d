// Node's fetch through the HTTPS proxy named by HTTPS_PROXY, trusting NODE_EXTRA_CA_CERTS.
// Node >= 22.21 / 24.5 do this natively with NODE_USE_ENV_PROXY=1; older ones (Debian 12 ships 18,
// nodesource 20) need undici's EnvHttpProxyAgent, pinned in package.json.
// Usage: node fetch.mjs URL [METHOD] [HEADERS_JSON]  → prints {"status", "headers", "body", "via"}
const [url, method = 'GET', headersJson = '{}'] = process.argv.slice(2);
const [major, minor] = process.versions.node.split('.').map(Number);
const native = process.env.NODE_USE_ENV_PROXY === '1' &&
  (major > 24 || (major === 24 && minor >= 5) || (major === 22 && minor >= 21));

let doFetch = globalThis.fetch;
let via = 'node-native-env-proxy';
if (!native) {
  const undici = await import('undici');
  undici.setGlobalDispatcher(new undici.EnvHttpProxyAgent());
  doFetch = undici.fetch;
  const { createRequire } = await import('node:module');
  via = `undici-${createRequire(import.meta.url)('undici/package.json').version}`;
}
try {
  const res = await doFetch(url, { method, headers: JSON.parse(headersJson) });
  const body = await res.text();
  console.log(JSON.stringify({ status: res.status, headers: Object.fromEntries(res.headers), body, via }));
} catch (err) {
  console.error(`fetch failed: ${err} ${err.cause ?? ''}`);
  process.exit(1);
}

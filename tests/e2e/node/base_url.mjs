// Node's built-in fetch with no proxy support at all (what the OpenAI and Anthropic SDKs use on
// Node before 22.21): the request goes to the base URL `cloakroom env` exports.
// Usage: node base_url.mjs VARIABLE PATH [HEADERS_JSON]  → prints {"status", "body", "url"}
const [variable, path, headersJson = '{}'] = process.argv.slice(2);
const base = process.env[variable];
if (!base) {
  console.error(`${variable} is not set`);
  process.exit(2);
}
try {
  const url = base.replace(/\/$/, '') + path;
  const res = await globalThis.fetch(url, { headers: JSON.parse(headersJson) });
  console.log(JSON.stringify({ status: res.status, body: await res.text(), url }));
} catch (err) {
  console.error(`fetch failed: ${err} ${err.cause ?? ''}`);
  process.exit(1);
}

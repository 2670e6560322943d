// A WebSocket client from npm's `ws`, through the HTTPS proxy named by HTTPS_PROXY (CONNECT via
// https-proxy-agent), trusting NODE_EXTRA_CA_CERTS. Sends each MESSAGE after the server's first
// message and prints {"received": [...], "close": code} as JSON once the server closes or
// COUNT messages arrived.
// Usage: node ws_client.mjs URL HEADERS_JSON COUNT [MESSAGE...]
import WebSocket from 'ws';
import { HttpsProxyAgent } from 'https-proxy-agent';

const [url, headersJson, count, ...messages] = process.argv.slice(2);
const agent = new HttpsProxyAgent(process.env.HTTPS_PROXY);
const ws = new WebSocket(url, { agent, headers: JSON.parse(headersJson), perMessageDeflate: true });
const received = [];
ws.on('message', (data, isBinary) => {
  received.push(isBinary ? { binary: data.toString('base64') } : data.toString());
  if (received.length === 1) for (const m of messages) ws.send(m);
  if (received.length >= Number(count)) ws.close(1000, 'done');
});
ws.on('unexpected-response', (req, res) => {
  console.log(JSON.stringify({ status: res.statusCode }));
  process.exit(0);
});
ws.on('close', (code) => {
  console.log(JSON.stringify({ received, close: code, extensions: ws.extensions }));
  process.exit(0);
});
ws.on('error', (err) => {
  console.error(`ws failed: ${err}`);
  process.exit(1);
});

// A TLS WebSocket server from npm's `ws`, as an upstream: on each connection it sends the
// request's headers as JSON, then the Authorization value again split across two fragments of
// one message, then echoes every message. Prints its port on stdout.
// Usage: node ws_server.mjs CERT KEY
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { WebSocketServer } from 'ws';

const [cert, key] = process.argv.slice(2);
const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) });
const wss = new WebSocketServer({ server, perMessageDeflate: true });
wss.on('connection', (ws, req) => {
  ws.send(JSON.stringify(req.headers));
  const auth = req.headers.authorization ?? '';
  const cut = Math.floor(auth.length / 2);
  ws.send(`split:${auth.slice(0, cut)}`, { fin: false });
  ws.send(auth.slice(cut), { fin: true });
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));

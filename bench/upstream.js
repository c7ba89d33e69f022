// The fast upstream every contender proxies to: a small keep-alive answer, as cheap as node:http allows.
import { createServer } from 'node:http';

const body = Buffer.from('{"ok":true,"items":[1,2,3]}\n');
const server = createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
process.on('disconnect', () => process.exit(0));

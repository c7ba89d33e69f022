// An upstream to try the drain against: GET /slow?ms=5000 answers after that long, anything else at once.
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://upstream');
  const ms = url.pathname === '/slow' ? Number(url.searchParams.get('ms') ?? 5000) : 0;
  setTimeout(() => res.end(`answered ${url.pathname} after ${ms} ms\n`), ms);
});
server.listen(Number(process.env.PORT ?? 4000), '127.0.0.1', () => {
  console.log(`upstream on http://127.0.0.1:${server.address().port}/ (GET /slow?ms=5000 is slow)`);
});

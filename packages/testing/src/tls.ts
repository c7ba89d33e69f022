import { createServer } from 'node:https';
import { certificates } from './certificates.js';
import { listen, type Upstream, type UpstreamState } from './upstream.js';

/** Options of {@link tlsUpstream}. */
export interface TlsOptions {
  /**
   * Which certificate it presents. `selfSigned` is signed by nobody; `expired`, `wrongHost` (issued for
   * `wrong.example`) and `valid` are signed by {@link testCA}, so a client that trusts `testCA` sees exactly one
   * problem with each.
   * @default 'selfSigned'
   */
  certificate?: keyof typeof certificates;
}

/** An HTTPS server on 127.0.0.1 that answers 200 `ok` behind the chosen certificate. */
export function tlsUpstream(options: TlsOptions = {}): Promise<Upstream> {
  const state: UpstreamState = { requests: 0 };
  const server = createServer(certificates[options.certificate ?? 'selfSigned'], (req, res) => {
    state.requests++;
    req.resume();
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 3 });
    res.end('ok\n');
  });
  return listen(server, state, 'https');
}

// node-fetch v2 is installed under the alias `node-fetch2` beside v3, and ships no types: the few calls the
// classification tests make, typed here.
declare module 'node-fetch2' {
  interface NodeFetch2Response {
    readonly status: number;
    text(): Promise<string>;
  }
  interface NodeFetch2Init {
    /** Milliseconds until the request (then the body) times out, node-fetch v2 only. */
    timeout?: number;
    /** The largest body in bytes, node-fetch v2 only. */
    size?: number;
    signal?: AbortSignal;
  }
  export default function fetch(url: string, init?: NodeFetch2Init): Promise<NodeFetch2Response>;
}

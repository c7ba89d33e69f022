// What a snippet in a page marked `<!-- snippets: testing -->` may use without declaring it: `port`, the port of the
// gateway (or any server) under test.
declare global {
  const port: number;
}

export {};

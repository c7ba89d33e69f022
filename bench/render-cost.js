// Render cost per page, in process over the built core: the time to render one complete response (status,
// headers, body) for a browser, an API client and curl.
import { createErrorResponder } from '@gateway-errors/core';
import { failureOf } from '@gateway-errors/core/unstable-internals';

const clients = {
  'html (browser)': {
    accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    'accept-language': 'en-US,en;q=0.9',
  },
  'problem+json (API)': { accept: 'application/json' },
  'text (curl)': { accept: '*/*' },
};

export async function renderCosts(iterations = 20_000) {
  const responder = createErrorResponder();
  const failure = failureOf('connection_refused');
  const rows = [];
  for (const [page, headers] of Object.entries(clients)) {
    const req = { headers, method: 'GET' };
    for (let i = 0; i < 2000; i++) responder.render(failure, req);
    const started = performance.now();
    for (let i = 0; i < iterations; i++) responder.render(failure, { headers, method: 'GET' });
    rows.push({ page, microseconds: ((performance.now() - started) * 1000) / iterations });
  }
  return rows;
}

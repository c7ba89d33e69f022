import { describe, expect, it } from 'vitest';
import {
  appendProxyStatus,
  formatProxyStatus,
  isToken,
  serializeProxyName,
  serializeString,
} from '../src/failure/proxy-status.js';

type Bare = string | number | boolean | { token: string };
interface Member {
  item: Bare;
  params: Record<string, Bare>;
}

/**
 * A strict parser of the RFC 8941 §4.2.1 list subset Proxy-Status uses (tokens, strings, integers, booleans, with
 * parameters): what a recipient does with our header. It throws where a recipient would discard the field.
 */
function parseList(input: string): Member[] {
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at ${i} in ${JSON.stringify(input)}`);
  };
  const skip = (chars: string) => {
    while (i < input.length && chars.includes(input[i] as string)) i++;
  };
  const bare = (): Bare => {
    const c = input[i] ?? '';
    if (c === '"') {
      let out = '';
      for (i++; i < input.length; i++) {
        const ch = input[i] as string;
        if (ch === '\\') {
          const next = input[++i];
          if (next !== '"' && next !== '\\') fail('bad escape');
          out += next;
        } else if (ch === '"') {
          i++;
          return out;
        } else if (ch < ' ' || ch > '~') fail('non-printable in string');
        else out += ch;
      }
      return fail('unterminated string');
    }
    if (/[-0-9]/.test(c)) {
      const match = /^-?[0-9]{1,15}/.exec(input.slice(i)) ?? fail('bad integer');
      i += match[0].length;
      return Number(match[0]);
    }
    if (c === '?') {
      const b = input[i + 1];
      if (b !== '0' && b !== '1') fail('bad boolean');
      i += 2;
      return b === '1';
    }
    const match = /^[A-Za-z*][A-Za-z0-9:/!#$%&'*+\-.^_`|~]*/.exec(input.slice(i)) ?? fail('bad item');
    i += match[0].length;
    return { token: match[0] };
  };
  const members: Member[] = [];
  skip(' ');
  while (i < input.length) {
    const item = bare();
    const params: Record<string, Bare> = {};
    while (input[i] === ';') {
      i++;
      skip(' ');
      const key = (/^[a-z*][a-z0-9_\-.*]*/.exec(input.slice(i)) ?? fail('bad key'))[0];
      i += key.length;
      if (input[i] === '=') {
        i++;
        params[key] = bare();
      } else params[key] = true;
    }
    members.push({ item, params });
    skip(' \t');
    if (i >= input.length) break;
    if (input[i] !== ',') fail('expected a comma');
    i++;
    skip(' \t');
    if (i >= input.length) fail('trailing comma');
  }
  return members;
}

describe('formatProxyStatus(): our member of the list (RFC 9209 §2)', () => {
  it('names us by token and gives the error type', () => {
    const value = formatProxyStatus('gateway-errors', { error: 'connection_refused' });
    expect(value).toBe('gateway-errors; error=connection_refused');
    expect(parseList(value)).toEqual([
      { item: { token: 'gateway-errors' }, params: { error: { token: 'connection_refused' } } },
    ]);
  });

  it('gives received-status when an upstream status was intercepted, and nothing else unless given', () => {
    expect(formatProxyStatus('edge', { receivedStatus: 503 })).toBe('edge; received-status=503');
    expect(formatProxyStatus('edge', {})).toBe('edge');
    expect(parseList(formatProxyStatus('edge', { receivedStatus: 503 }))[0]?.params).toEqual({
      'received-status': 503,
    });
  });

  it('puts parameters in the RFC order: error, received-status, details', () => {
    const value = formatProxyStatus('edge', { details: 'x', receivedStatus: 502, error: 'http_protocol_error' });
    expect(value).toBe('edge; error=http_protocol_error; received-status=502; details="x"');
  });

  it('serialises details as an sf-string: quotes and backslashes escaped, non-ASCII and controls as ?', () => {
    const details = 'connect ECONNREFUSED "db" C:\\x café\r\n🙂';
    const value = formatProxyStatus('edge', { error: 'connection_refused', details });
    expect(value).toBe('edge; error=connection_refused; details="connect ECONNREFUSED \\"db\\" C:\\\\x caf????"');
    expect(parseList(value)[0]?.params.details).toBe('connect ECONNREFUSED "db" C:\\x caf????');
  });

  it('drops an error that is not a token and a status that is not one, rather than break the field', () => {
    expect(formatProxyStatus('edge', { error: 'not a token', receivedStatus: 5030 })).toBe('edge');
    expect(formatProxyStatus('edge', { error: '', receivedStatus: 99 })).toBe('edge');
    expect(formatProxyStatus('edge', { receivedStatus: 502.5 })).toBe('edge');
  });
});

describe('serializeProxyName(): a Token when it can be, else a String (RFC 9209 §2)', () => {
  it.each([
    ['gateway-errors', 'gateway-errors'],
    ['edge.example.com', 'edge.example.com'],
    ['CDN/1.2', 'CDN/1.2'],
    ['*edge', '*edge'],
    ['edge 1', '"edge 1"'],
    ['1edge', '"1edge"'], // a token starts with a letter or *
    ['-edge', '"-edge"'],
    ['a"b', '"a\\"b"'],
    ['a\\b', '"a\\\\b"'],
    ['tür', '"t?r"'],
    ['', '""'],
  ])('%j is %s', (name, serialised) => {
    expect(serializeProxyName(name)).toBe(serialised);
    const [member] = parseList(formatProxyStatus(name, { error: 'dns_error' }));
    expect(member?.params.error).toEqual({ token: 'dns_error' });
  });

  it('knows a token when it sees one', () => {
    expect(isToken('http_response_timeout')).toBe(true);
    expect(isToken('a:b/c')).toBe(true);
    expect(isToken('a,b')).toBe(false);
    expect(isToken('a;b')).toBe(false);
    expect(serializeString('plain')).toBe('"plain"');
  });
});

describe('appendProxyStatus(): ours goes last, nearest the client (RFC 9209 §2)', () => {
  const ours = 'gateway-errors; error=connection_timeout';

  it.each([
    ['nothing', undefined, ours],
    ['an empty value', '', ours],
    ['blanks', '   ', ours],
    ['an upstream member', 'origin; error=http_protocol_error', `origin; error=http_protocol_error, ${ours}`],
    ['a list', 'origin, cdn; received-status=502', `origin, cdn; received-status=502, ${ours}`],
    ['several header lines', ['origin', 'cdn'], `origin, cdn, ${ours}`],
    ['lines with blanks', ['', 'origin', '  '], `origin, ${ours}`],
    ['a stray trailing comma', 'origin, ', `origin, ${ours}`],
    ['a leading comma', ', origin', `origin, ${ours}`],
    ['a number (setHeader with a number)', 7, `7, ${ours}`],
  ])('after %s', (_what, existing, expected) => {
    const value = appendProxyStatus(existing as string | number | string[] | undefined, ours);
    expect(value).toBe(expected);
    expect(parseList(value).at(-1)).toEqual({
      item: { token: 'gateway-errors' },
      params: { error: { token: 'connection_timeout' } },
    });
  });
});

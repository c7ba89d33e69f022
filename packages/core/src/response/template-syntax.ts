import { Script } from 'node:vm';

/**
 * Where an EJS template that does not compile is wrong. EJS compiles a template into one JavaScript function, so its
 * errors name no line: an unclosed `<% if (...) { %>` is "Unexpected token 'catch'" (the token after the function's
 * body). Two mistakes are found by reading the tags, the way a reader would: a tag with no `%>`, and a block whose
 * braces do not balance across the tags; any other syntax error is located by compiling the source EJS generated,
 * whose `__line = N` statements say which template line each piece of code came from.
 */
export interface SyntaxProblem {
  /** The template's line, from 1. */
  readonly line: number;
  /** What is wrong there, and the fix. */
  readonly message: string;
}

/** EJS's delimiters, the literal ones (`<%%`, `%%>`) first. */
const delimiter = /<%%|%%>|<%[_=\-#]?|[-_]?%>/g;

/** The line of `offset` in `text`, from 1. */
function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let at = text.indexOf('\n'); at !== -1 && at < offset; at = text.indexOf('\n', at + 1)) line++;
  return line;
}

/**
 * The offsets of the braces in a tag's code that open and close blocks: those in strings, template literals and
 * comments are skipped. (A brace in a regular expression literal would be counted: rare enough in a template.)
 */
function bracesIn(code: string, from: number, into: { offset: number; open: boolean }[]): void {
  for (let i = 0; i < code.length; i++) {
    const char = code[i];
    if (char === '"' || char === "'" || char === '`') {
      for (i++; i < code.length && code[i] !== char; i++) if (code[i] === '\\') i++;
    } else if (char === '/' && code[i + 1] === '/') {
      const end = code.indexOf('\n', i);
      i = end === -1 ? code.length : end;
    } else if (char === '/' && code[i + 1] === '*') {
      const end = code.indexOf('*/', i + 2);
      i = end === -1 ? code.length : end + 1;
    } else if (char === '{' || char === '}') {
      into.push({ offset: from + i, open: char === '{' });
    }
  }
}

/** A tag with no `%>`, or a block that is never closed or closes none: what reading the tags finds. */
function tagProblem(text: string): SyntaxProblem | undefined {
  const braces: { offset: number; open: boolean }[] = [];
  let open: { tag: string; offset: number } | undefined;
  for (const match of text.matchAll(delimiter)) {
    const token = match[0];
    if (token === '<%%' || token === '%%>') continue;
    if (token.startsWith('<%')) {
      if (open !== undefined) break;
      open = { tag: token, offset: match.index };
    } else if (open !== undefined) {
      const start = open.offset + open.tag.length;
      if (open.tag !== '<%#') bracesIn(text.slice(start, match.index), start, braces);
      open = undefined;
    }
  }
  if (open !== undefined) {
    return {
      line: lineAt(text, open.offset),
      message: `the tag ${open.tag} on this line is never closed: end it with %>.`,
    };
  }
  const unclosed: number[] = [];
  for (const brace of braces) {
    if (brace.open) unclosed.push(brace.offset);
    else if (unclosed.pop() === undefined) {
      return {
        line: lineAt(text, brace.offset),
        message: 'the } on this line closes no block: remove it, or open the block it ends.',
      };
    }
  }
  const last = unclosed.at(-1);
  if (last === undefined) return undefined;
  return {
    line: lineAt(text, last),
    message: 'the block opened on this line is never closed: add <% } %> where it ends.',
  };
}

/** A syntax error elsewhere: located by compiling EJS's generated source, and mapped back to the template's line. */
function codeProblem(generated: string): SyntaxProblem | undefined {
  // Compiled, never run: the function is only parsed.
  const wrapped = `(function () {\n${generated}\n})`;
  try {
    new Script(wrapped, { filename: 'template' });
    return undefined;
  } catch (error) {
    const at = /^template:(\d+)/.exec((error as Error).stack ?? '');
    if (at === null) return undefined;
    const lines = wrapped.split('\n').slice(0, Number(at[1]));
    const marked = lines.findLast((line) => /; __line = \d+$/.test(line));
    return { line: Number(marked?.match(/\d+$/)?.[0] ?? 1), message: `${(error as Error).message}.` };
  }
}

/**
 * The line of a template that does not compile, and what is wrong there: from its tags, or from the source EJS
 * generated when there is one. `undefined` when neither says.
 */
export function syntaxProblem(text: string, generated: string | undefined): SyntaxProblem | undefined {
  return tagProblem(text) ?? (generated === undefined ? undefined : codeProblem(generated));
}

/** The lines around `line` of a template, the line itself marked: `>> 3| <% if (page.x) { %>`. */
export function excerpt(text: string, line: number): string {
  const first = Math.max(line - 3, 0);
  return text
    .split('\n')
    .slice(first, line + 2)
    .map((source, i) => `${first + i + 1 === line ? ' >> ' : '    '}${first + i + 1}| ${source}`)
    .join('\n');
}

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';
import { configError } from '../config/config-error.js';
import { excerpt, syntaxProblem } from './template-syntax.js';

/** The page templates: one per gateway status, and `error` for any other status. `layout` wraps each of them. */
export type PageTemplate = '502' | '503' | '504' | 'error';

/** Where the default templates live: beside `src/` and `dist/`, so both resolve it the same way. */
export const defaultTemplatesDir: string = fileURLToPath(new URL('../../templates/', import.meta.url));

/**
 * Includes may name a default template under this prefix (`include('default/partials/links')`), to wrap or extend
 * it from an override of the same name.
 */
const defaultsPrefix = 'default/';

/** A set of compiled templates: the defaults with a user's directory laid over them, file by file. */
export interface TemplateSet {
  /**
   * Renders a page inside the layout (a page that is a whole document, starting with `<!doctype html>`, is not
   * wrapped). Templates see `page`, and the layout also `content`, the rendered page. Throws what a template throws.
   */
  render(name: PageTemplate, page: object): string;
  /** Renders with the built-in templates only: the fallback when a user's template throws at request time. */
  renderDefault(name: PageTemplate, page: object): string;
  /** The user's templates directory, resolved; `undefined` with the defaults alone. */
  readonly userDir: string | undefined;
  /** The file a page is rendered from, for messages. */
  fileOf(name: PageTemplate | 'layout'): string;
}

const entities: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&#34;',
  "'": '&#39;',
};
const special = /[&<>"']/;
const specials = /[&<>"']/g;
const entityOf = (char: string): string => entities[char] as string;

/**
 * HTML-escapes a value for text and quoted attributes, as EJS's `<%= %>` does (`null` and `undefined` print
 * nothing). Most values hold nothing to escape, so they are tested first and returned as they are.
 */
export function escapeHtml(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'string' ? value : String(value);
  return special.test(text) ? text.replace(specials, entityOf) : text;
}

type Locals = Record<string, unknown>;
type Include = (path: string, data?: object) => string;
type Rethrow = (error: unknown, lines: string, file: string, line: number) => never;
type CompiledFunction = (
  locals: Locals,
  escapeFn: (value: unknown) => string,
  include: Include,
  rethrow: Rethrow,
) => string;

interface Source {
  readonly path: string;
  readonly text: string;
}

/** A template in a set: its compiled function, and the includes it names, resolved once and remembered. */
interface Entry {
  readonly name: string;
  readonly path: string;
  readonly fn: CompiledFunction;
  /** A page that is a whole document is not wrapped in the layout. */
  readonly standalone: boolean;
  readonly includes: Map<string, Entry>;
}

const annotated = Symbol('gateway-errors.templateError');

/** Names the template file and line of an error thrown while rendering, once, at the innermost template. */
const rethrow: Rethrow = (error, lines, file, line) => {
  if (error instanceof Error && !(annotated in error)) {
    error.message = `${file}:${line}: ${error.message}\n${excerpt(lines, line)}`;
    Object.defineProperty(error, annotated, { value: true });
  }
  throw error;
};

/**
 * The compiled function of each file, with the text it was compiled from: the defaults are compiled once per process,
 * however many sets use them. One entry per file, not per text: the preview re-reads a user's templates on each
 * request, and a file edited a hundred times must not be kept a hundred times.
 */
const compiledCache = new Map<string, { text: string; fn: CompiledFunction }>();

/**
 * Compiles with EJS's parser, then builds the function ourselves from the source EJS generated, so that `include` is
 * ours: includes resolve in memory, without EJS's per-call file-system lookups and option copies. Line tracking
 * stays on (it costs a local assignment per line) so a template error names its line.
 */
function compile(source: Source): CompiledFunction {
  const known = compiledCache.get(source.path);
  if (known?.text === source.text) return known.fn;
  const template = new ejs.Template(source.text, {
    strict: true,
    _with: false,
    localsName: 'locals',
    destructuredLocals: ['page', 'content'],
    compileDebug: true,
    filename: source.path,
  });
  try {
    template.compile();
  } catch (error) {
    // EJS names no line (an unclosed block is "Unexpected token 'catch'"): find it.
    const problem = syntaxProblem(source.text, (template as { source?: string }).source);
    const where =
      problem === undefined
        ? `${source.path}: ${(error as Error).message.split('\n')[0]} `
        : `${source.path}:${problem.line}: ${problem.message}\n${excerpt(source.text, problem.line)}\n`;
    throw configError(
      'GATEWAY_ERRORS_INVALID_TEMPLATES',
      `cannot compile template ${where}` +
        'Fix the EJS syntax in that file (every <% needs its %>, every { its }, and the code inside must be valid JavaScript).',
      { kind: Error, cause: error },
    );
  }
  const body =
    `let __line = 1; const __lines = ${JSON.stringify(source.text)}, __filename = ${JSON.stringify(source.path)};\n` +
    `try {\n${template.source}\n} catch (e) { rethrow(e, __lines, __filename, __line); }`;
  const fn = new Function('locals', 'escapeFn', 'include', 'rethrow', `"use strict";\n${body}`) as CompiledFunction;
  compiledCache.set(source.path, { text: source.text, fn });
  return fn;
}

/** Every `.ejs` file below `dir`, keyed by its path relative to `dir` without the extension, with `/` separators. */
function readTemplates(dir: string): Map<string, Source> {
  const found = new Map<string, Source>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.name.endsWith('.ejs') || entry.name.startsWith('.')) continue;
    const path = join(entry.parentPath, entry.name);
    if (!entry.isFile() && !(entry.isSymbolicLink() && statSync(path).isFile())) continue;
    const name = relative(dir, path).slice(0, -'.ejs'.length).split(sep).join('/');
    found.set(name, { path, text: readFileSync(path, 'utf8') });
  }
  return found;
}

let defaultSources: ReadonlyMap<string, Source> | undefined;

const pageNames: readonly (PageTemplate | 'layout')[] = ['502', '503', '504', 'error', 'layout'];

/** Checks a user's templates directory at construction, with messages that say what to fix. */
function readUserTemplates(dir: unknown): { dir: string; sources: Map<string, Source> } {
  if (typeof dir !== 'string' || dir === '') {
    throw configError(
      'GATEWAY_ERRORS_INVALID_TEMPLATES',
      `templates must be the path of a directory, got ${JSON.stringify(dir)}. For example: templates: './views/errors'.`,
    );
  }
  const absolute = resolve(dir);
  let isDirectory = false;
  try {
    isDirectory = statSync(absolute).isDirectory();
  } catch {
    // reported below
  }
  if (!isDirectory) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_TEMPLATES',
      `templates directory "${dir}" not found (resolved to ${absolute} from ${process.cwd()}). ` +
        'Give an existing directory holding any of 502.ejs, 503.ejs, 504.ejs, error.ejs, layout.ejs or partials/*.ejs.',
      { kind: Error },
    );
  }
  const sources = readTemplates(absolute);
  if (sources.size === 0) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_TEMPLATES',
      `templates directory ${absolute} holds no .ejs file. Add any of 502.ejs, 503.ejs, 504.ejs, ` +
        'error.ejs, layout.ejs or partials/*.ejs, or remove the templates option to use the built-in pages.',
      { kind: Error },
    );
  }
  for (const name of sources.keys()) {
    // A 500.ejs or 404.ejs would never be used: say so rather than let it be ignored.
    if (/^\d{3}$/.test(name) && !pageNames.includes(name as PageTemplate)) {
      throw configError(
        'GATEWAY_ERRORS_INVALID_TEMPLATES',
        `${join(absolute, `${name}.ejs`)} would never be used: pages are 502.ejs, 503.ejs, 504.ejs, ` +
          `and error.ejs for every other status (its number is page.status). Rename it to error.ejs.`,
        { kind: Error },
      );
    }
    if (name.startsWith(defaultsPrefix)) {
      throw configError(
        'GATEWAY_ERRORS_INVALID_TEMPLATES',
        `${join(absolute, name)}.ejs: the folder "${defaultsPrefix}" is reserved for the built-in ` +
          'templates (include("default/partials/retry") names the built-in one). Rename the folder.',
        { kind: Error },
      );
    }
  }
  return { dir: absolute, sources };
}

/** `path` as named in an include, resolved against the including template: root-relative unless it starts with `.`. */
function includeName(from: string, path: string, root: string): string {
  let name = path.replace(/\\/g, '/').replace(/\.ejs$/, '');
  if (name.startsWith('./') || name.startsWith('../')) return posix.join(posix.dirname(from), name);
  name = posix.normalize(name.replace(/^\/+/, ''));
  return name.startsWith(defaultsPrefix) ? name : root + name;
}

/**
 * Loads and compiles the templates once, at construction. Includes are resolved from the template root, the user's
 * directory first: `<%- include('partials/retry') %>` works from any template and picks a user's override when there
 * is one; `include('default/partials/retry')` always names the built-in one. Nothing touches the file system at
 * render time.
 */
export function loadTemplates(userDir: string | undefined): TemplateSet {
  defaultSources ??= readTemplates(defaultTemplatesDir);
  const user = userDir === undefined ? undefined : readUserTemplates(userDir);

  const entries = new Map<string, Entry>();
  const add = (name: string, source: Source, standalone: boolean) => {
    entries.set(name, { name, path: source.path, fn: compile(source), standalone, includes: new Map() });
  };
  for (const [name, source] of defaultSources) {
    add(name, source, false);
    add(defaultsPrefix + name, source, false);
  }
  for (const [name, source] of user?.sources ?? []) {
    add(name, source, pageNames.includes(name as PageTemplate) && /^\s*<!doctype html/i.test(source.text));
  }

  const lookup = (from: Entry, path: unknown): Entry => {
    if (typeof path !== 'string') throw new TypeError(`include() takes a template name, got ${typeof path}`);
    let target = from.includes.get(path);
    if (target === undefined) {
      const root = from.name.startsWith(defaultsPrefix) ? defaultsPrefix : '';
      const name = includeName(from.name, path, root);
      target = entries.get(name);
      if (target === undefined) {
        const known = [...entries.keys()].filter((key) => !key.startsWith(defaultsPrefix));
        throw new Error(`the template include "${path}" names no template (known: ${known.join(', ')})`);
      }
      from.includes.set(path, target);
    }
    return target;
  };
  const run = (entry: Entry, locals: Locals): string =>
    entry.fn(
      locals,
      escapeHtml,
      (path, data) => run(lookup(entry, path), data === undefined ? locals : { ...locals, ...data }),
      rethrow,
    );
  const get = (name: string): Entry => entries.get(name) as Entry;
  const renderWith = (prefix: string) => {
    const layout = get(`${prefix}layout`);
    const pages = {
      '502': get(`${prefix}502`),
      '503': get(`${prefix}503`),
      '504': get(`${prefix}504`),
      error: get(`${prefix}error`),
    };
    return (name: PageTemplate, page: object): string => {
      const entry = pages[name];
      const content = run(entry, { page });
      return entry.standalone ? content : run(layout, { page, content });
    };
  };

  return Object.freeze({
    render: renderWith(''),
    renderDefault: renderWith(defaultsPrefix),
    userDir: user?.dir,
    fileOf: (name: PageTemplate | 'layout') => get(name).path,
  });
}

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ejs from 'ejs';

/** The templates a page is rendered from. `layout` wraps the page; the others are the page bodies. */
export type PageTemplate = '502' | '503' | '504' | 'error';

/** Where the default templates live: beside `src/` and `dist/`, so both resolve it the same way. */
export const defaultTemplatesDir: string = fileURLToPath(new URL('../templates/', import.meta.url));

/** A set of compiled templates: the defaults with a user's directory laid over them, file by file. */
export interface TemplateSet {
  /** Renders a page body inside the layout. `page` is the only local the templates see (plus `content`). */
  render(name: PageTemplate, page: object): string;
}

interface Source {
  readonly path: string;
  readonly text: string;
}

/** Every `.ejs` file below `dir`, keyed by its path relative to `dir` without the extension, with `/` separators. */
function readTemplates(dir: string): Map<string, Source> {
  const found = new Map<string, Source>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ejs')) continue;
    const path = join(entry.parentPath, entry.name);
    const name = relative(dir, path).slice(0, -'.ejs'.length).split(sep).join('/');
    found.set(name, { path, text: readFileSync(path, 'utf8') });
  }
  return found;
}

/** Checks a user's templates directory at construction, with a message that says what to fix. */
function checkDirectory(dir: string): string {
  const absolute = resolve(dir);
  let isDirectory = false;
  try {
    isDirectory = statSync(absolute).isDirectory();
  } catch {
    // reported below
  }
  if (!isDirectory) {
    throw new Error(
      `gateway-errors: templates directory "${dir}" not found (resolved to ${absolute} from ${process.cwd()}). ` +
        'Give an existing directory holding any of 502.ejs, 503.ejs, 504.ejs, error.ejs, layout.ejs.',
    );
  }
  return absolute;
}

/**
 * Loads and compiles the templates once. Includes are resolved from the template root, the user's directory first:
 * `<%- include('partials/retry') %>` works from any template and picks a user's override when there is one.
 * Includes never touch the file system at render time.
 */
export function loadTemplates(userDir: string | undefined, development: boolean): TemplateSet {
  const sources = readTemplates(defaultTemplatesDir);
  if (userDir !== undefined) {
    const dir = checkDirectory(userDir);
    const overrides = readTemplates(dir);
    if (overrides.size === 0) {
      throw new Error(`gateway-errors: templates directory ${dir} holds no .ejs file.`);
    }
    for (const [name, source] of overrides) sources.set(name, source);
  }

  const includer = (path: string) => {
    const name = path.replace(/^\.?\//, '').replace(/\.ejs$/, '');
    const source = sources.get(name);
    if (source === undefined) {
      throw new Error(
        `gateway-errors: the template include "${path}" names no template (known: ${[...sources.keys()].join(', ')}).`,
      );
    }
    // `filename` is the key EJS caches the compiled include under; the text is already in memory. (EJS reads both
    // fields; its type definitions only allow one.)
    return { filename: `gateway-errors:${source.path}`, template: source.text } as unknown as ejs.IncluderResult;
  };
  const options: ejs.Options & { async: false } = {
    async: false,
    strict: true,
    _with: false,
    localsName: 'locals',
    destructuredLocals: ['page', 'content'],
    cache: true,
    includer,
    compileDebug: development,
  };
  const compile = (name: string): ejs.TemplateFunction => {
    const source = sources.get(name);
    if (source === undefined) throw new Error(`gateway-errors: missing template ${name}.ejs`);
    try {
      return ejs.compile(source.text, options) as ejs.TemplateFunction;
    } catch (error) {
      throw new Error(`gateway-errors: cannot compile ${source.path}: ${(error as Error).message}`, { cause: error });
    }
  };
  const layout = compile('layout');
  const pages: Record<PageTemplate, ejs.TemplateFunction> = {
    '502': compile('502'),
    '503': compile('503'),
    '504': compile('504'),
    error: compile('error'),
  };
  return {
    render(name, page) {
      return layout({ page, content: pages[name]({ page }) });
    },
  };
}

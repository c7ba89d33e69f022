// Every ```ts and ```js block of the READMEs and docs/ is type-checked against the built packages, so that a snippet
// runs as pasted: no undefined name (`flags`, `USERS_URL`), no option that does not exist, no wrong import.
//
// A block is a module of its own. A page may name a prelude at its top, `<!-- snippets: express -->`: the names in
// test/docs/preludes/express.d.ts (the app the snippet is written into, the adapter's middleware) are then in scope
// for its blocks, as they are for a reader of that page; everything else a block uses, it imports or defines. A block
// that cannot be checked says why on the line before its fence: `<!-- snippet not checked: it tests a module of
// your app -->`.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

/** The pages users read: the READMEs (root, packages, examples) and docs/. */
function pages(): string[] {
  const inFolder = (folder: string, pick: (name: string) => string | undefined) =>
    readdirSync(join(root, folder)).flatMap((name) => {
      const page = pick(name);
      return page !== undefined && existsSync(join(root, page)) ? [page] : [];
    });
  return [
    'README.md',
    ...inFolder('packages', (name) => `packages/${name}/README.md`),
    ...inFolder('examples', (name) => `examples/${name}/README.md`),
    ...inFolder('docs', (name) => (name.endsWith('.md') ? `docs/${name}` : undefined)),
  ];
}

interface Snippet {
  page: string;
  /** The line of the opening fence, 1-based: what a failure names. */
  line: number;
  language: 'ts' | 'js';
  code: string;
  prelude: string | undefined;
  /** Why it is not checked, when its page says so. */
  skip: string | undefined;
}

function snippetsOf(page: string): Snippet[] {
  const lines = readFileSync(join(root, page), 'utf8').split('\n');
  const prelude = /^<!-- snippets: ([a-z]+) -->$/m.exec(lines.join('\n'))?.[1];
  const snippets: Snippet[] = [];
  let open: Omit<Snippet, 'code'> | undefined;
  let body: string[] = [];
  lines.forEach((line, index) => {
    if (open === undefined) {
      const fence = /^```(ts|typescript|js|javascript)\s*$/.exec(line);
      if (fence === null) return;
      const skip = /^<!-- snippet not checked: (.+) -->$/.exec(lines[index - 1] ?? '')?.[1];
      open = { page, line: index + 1, language: fence[1]?.startsWith('t') ? 'ts' : 'js', prelude, skip };
      body = [];
    } else if (/^```\s*$/.test(line)) {
      snippets.push({ ...open, code: body.join('\n') });
      open = undefined;
    } else {
      body.push(line);
    }
  });
  return snippets;
}

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'], // fetch, AbortSignal and Response, as in Node
  types: ['node'],
  strict: true,
  // A snippet's callbacks are typed by what they are passed to; the odd untyped parameter of a JavaScript snippet
  // is fine to a reader.
  noImplicitAny: false,
  allowJs: true,
  checkJs: true,
  noEmit: true,
  skipLibCheck: true,
};

/** Each snippet's diagnostics, as text; one program per prelude (each prelude declares its own globals). */
function check(snippets: Snippet[]): Map<Snippet, string[]> {
  const results = new Map<Snippet, string[]>();
  const byPrelude = new Map<string, Snippet[]>();
  for (const snippet of snippets) {
    const prelude = snippet.prelude ?? '';
    byPrelude.set(prelude, [...(byPrelude.get(prelude) ?? []), snippet]);
  }
  for (const [prelude, group] of byPrelude) {
    const files = new Map<string, Snippet>();
    for (const snippet of group) {
      const name = `${snippet.page.replaceAll(/[/.]/g, '_')}_${snippet.line}.${snippet.language}`;
      // `export {}` makes a snippet with no import a module too, so that its names do not collide with another's.
      files.set(join(root, '.snippets', prelude || 'none', name), {
        ...snippet,
        code: `${snippet.code}\nexport {};\n`,
      });
    }
    const host = ts.createCompilerHost(options);
    const { fileExists, readFile, getSourceFile } = host;
    host.fileExists = (file) => files.has(file) || fileExists.call(host, file);
    host.readFile = (file) => files.get(file)?.code ?? readFile.call(host, file);
    host.getSourceFile = (file, language, ...rest) => {
      const snippet = files.get(file);
      return snippet
        ? ts.createSourceFile(file, snippet.code, language)
        : getSourceFile.call(host, file, language, ...rest);
    };
    const preludeFile = join(import.meta.dirname, 'preludes', `${prelude}.d.ts`);
    if (prelude !== '' && !existsSync(preludeFile)) {
      throw new Error(`${group[0]?.page} names the prelude "${prelude}", which test/docs/preludes/ does not have`);
    }
    const program = ts.createProgram([...files.keys(), ...(prelude ? [preludeFile] : [])], options, host);
    for (const [file, snippet] of files) {
      const source = program.getSourceFile(file);
      const diagnostics = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)];
      results.set(
        group.find((original) => original.page === snippet.page && original.line === snippet.line) as Snippet,
        diagnostics.map((diagnostic) => {
          const at = diagnostic.start === undefined ? 0 : source?.getLineAndCharacterOfPosition(diagnostic.start).line;
          return `line ${snippet.line + 1 + (at ?? 0)}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
        }),
      );
    }
  }
  return results;
}

const snippets = pages().flatMap(snippetsOf);
const checked = snippets.filter((snippet) => snippet.skip === undefined);

describe('the snippets of the READMEs and docs', () => {
  it('are found, and the packages are built (their types are what a user imports)', () => {
    expect(checked.length).toBeGreaterThan(30);
    expect(existsSync(join(root, 'packages/express/dist/index.d.ts')), 'run pnpm build first').toBe(true);
  });

  const results = existsSync(join(root, 'packages/express/dist/index.d.ts')) ? check(checked) : new Map();
  it.each(checked.map((snippet) => [`${snippet.page}:${snippet.line}`, snippet] as const))(
    '%s type-checks as pasted',
    (_, snippet) => {
      expect(results.get(snippet)).toEqual([]);
    },
  );
});

#!/usr/bin/env node
// Exported values (functions, classes, constants, enums) that no other file imports, in the given
// folders (default: runtime cli): dead code, or an export that should be a local. Imports are read
// from every TypeScript/JavaScript source of the repository (runtime, cli, test, scripts, bench,
// tooling, examples); the package's entry points (runtime/index.ts, runtime/internals.ts,
// runtime/entry/*) are public API, so what they export counts as used. Types are not reported
// (they cost nothing at run time). Prints `file:line name` for each; exits 1 when there is any.
//
// The TypeScript parser (a devDependency already) reads the import and export clauses; a dependency
// like ts-prune for one check is not worth it.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCES = ['runtime', 'cli', 'test', 'scripts', 'bench', 'tooling', 'examples'];
const PUBLIC = [/^runtime\/index\.ts$/, /^runtime\/internals\.ts$/, /^runtime\/entry\//];

function files(dir) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === 'fixtures' || name === 'generated') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (/\.(ts|mts|mjs|js)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const hasExport = (node) => ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);

/** The module a relative specifier names, as an absolute path (or null for packages). */
function target(from, spec) {
  if (!spec.startsWith('.')) return null;
  const p = resolve(dirname(from), spec);
  return existsSync(p) ? p : existsSync(p.replace(/\.js$/, '.ts')) ? p.replace(/\.js$/, '.ts') : p;
}

export function unusedExports(dirs = ['runtime', 'cli'], root = ROOT) {
  const all = SOURCES.flatMap((d) => files(join(root, d)));
  const exported = new Map(); // file → Map(name → line)
  const used = new Map(); // file → Set(name) ('*': everything)
  const use = (file, name) => (used.get(file) ?? used.set(file, new Set()).get(file)).add(name);
  for (const file of all) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const mine = new Map();
    const line = (n) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
    for (const st of sf.statements) {
      if (ts.isImportDeclaration(st) || (ts.isExportDeclaration(st) && st.moduleSpecifier)) {
        const from = target(file, st.moduleSpecifier.text);
        if (!from) continue;
        const clause = ts.isImportDeclaration(st) ? st.importClause : null;
        if (ts.isExportDeclaration(st)) {
          if (!st.exportClause || ts.isNamespaceExport(st.exportClause)) use(from, '*');
          else
            for (const e of st.exportClause.elements) {
              use(from, (e.propertyName ?? e.name).text);
              if (!st.isTypeOnly && !e.isTypeOnly) mine.set(e.name.text, line(e));
            }
        } else if (!clause)
          use(from, '*'); // a side-effect import
        else {
          if (clause.name) use(from, 'default');
          const b = clause.namedBindings;
          if (b && ts.isNamespaceImport(b)) use(from, '*');
          else if (b) for (const e of b.elements) use(from, (e.propertyName ?? e.name).text);
        }
      } else if (hasExport(st) && !ts.isInterfaceDeclaration(st) && !ts.isTypeAliasDeclaration(st)) {
        if (ts.isVariableStatement(st)) for (const d of st.declarationList.declarations) mine.set(d.name.getText(sf), line(d));
        else if (st.name) mine.set(st.name.text, line(st));
      }
    }
    // dynamic import('./x.ts'): everything counts as used
    sf.forEachChild(function walk(n) {
      if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
        const from = target(file, n.arguments[0].text);
        if (from) use(from, '*');
      }
      n.forEachChild(walk);
    });
    exported.set(file, mine);
  }
  const out = [];
  for (const [file, names] of exported) {
    const rel = relative(root, file).split('\\').join('/');
    if (!dirs.some((d) => rel.startsWith(`${d}/`)) || PUBLIC.some((r) => r.test(rel))) continue;
    const u = used.get(file) ?? new Set();
    if (u.has('*')) continue;
    for (const [name, line] of names) if (!u.has(name)) out.push({ file: rel, line, name });
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dirs = process.argv.slice(2);
  const unused = unusedExports(dirs.length ? dirs : undefined);
  for (const u of unused) console.log(`${u.file}:${u.line} ${u.name}`);
  console.error(`${unused.length} exported value(s) no file imports`);
  process.exit(unused.length ? 1 : 0);
}

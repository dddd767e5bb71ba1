#!/usr/bin/env node
// Functions longer than a limit (default 80 lines) in the TypeScript sources of the given folders
// (default: runtime cli): every function declaration, method, constructor, accessor, function
// expression and arrow function, nested ones counted on their own (a function's lines include its
// nested functions'). Prints `file:line name length` for each and exits 1 when there is any;
// test/function-length.test.ts runs it.
//
// The TypeScript compiler's own parser (a devDependency already) finds the functions: a regex cannot
// tell where an arrow function in a call's arguments ends.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const MAX_LINES = 80;

function tsFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** A readable name for a function node: its own, the variable or property it is assigned to, or the call it is passed to. */
function nameOf(node, sf) {
  if (node.name) return node.name.getText(sf);
  const p = node.parent;
  if (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) return p.name.getText(sf);
  if (ts.isCallExpression(p)) {
    const callee = p.expression.getText(sf).split('\n')[0];
    return `(callback of ${callee.length > 40 ? `…${callee.slice(-40)}` : callee})`;
  }
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  return '(anonymous)';
}

/** Every function in one file with its first line (1-based) and its length in lines. */
export function functionsOf(file, text = readFileSync(file, 'utf8')) {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      out.push({ line: start + 1, name: nameOf(node, sf), lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The functions longer than `max` lines under `dirs`, as { file, line, name, lines }. */
export function longFunctions(dirs = ['runtime', 'cli'], { root = ROOT, max = MAX_LINES } = {}) {
  const files = dirs.flatMap((d) => {
    try {
      return tsFiles(join(root, d));
    } catch {
      return [];
    }
  });
  const out = [];
  for (const f of files) {
    const file = relative(root, f).split('\\').join('/');
    for (const fn of functionsOf(f)) if (fn.lines > max) out.push({ file, ...fn });
  }
  return out.sort((a, b) => b.lines - a.lines);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const dirs = args.filter((a) => !a.startsWith('--'));
  const long = longFunctions(dirs.length ? dirs : undefined);
  for (const f of long) console.log(`${f.file}:${f.line} ${f.name} ${f.lines}`);
  if (long.length) {
    console.error(`${long.length} function(s) longer than ${MAX_LINES} lines`);
    process.exit(1);
  }
  console.log(`no function longer than ${MAX_LINES} lines`);
}

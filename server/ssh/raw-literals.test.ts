import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * `sh.raw` embeds its argument in a remote command unquoted, so it may only ever be given text written in our
 * source: this walks the TypeScript AST of every production file under server/ and fails on any `sh.raw(...)`
 * whose argument is not a constant. A constant is a string literal, a template literal without substitutions, a
 * `+` of constants, or an array literal of constants joined with a constant (`[...].join('\n')`). Anything else (a
 * variable, a call, a template with `${}`, even a numeric constant) must go through the `sh` template, which quotes.
 */

const SERVER = path.resolve(__dirname, '..');

function productionFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'generated' || entry.name === 'node_modules' ? [] : productionFiles(full);
    return /\.tsx?$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name) ? [full] : [];
  });
}

function isConstant(node: ts.Expression): boolean {
  if (ts.isParenthesizedExpression(node)) return isConstant(node.expression);
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return true;
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) return isConstant(node.left) && isConstant(node.right);
  if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === 'join') {
    const list = node.expression.expression;
    return ts.isArrayLiteralExpression(list) && list.elements.every((element) => isConstant(element)) && node.arguments.every((arg) => isConstant(arg));
  }
  return false;
}

function isShRaw(node: ts.CallExpression): boolean {
  const callee = node.expression;
  return ts.isPropertyAccessExpression(callee) && callee.name.text === 'raw' && ts.isIdentifier(callee.expression) && callee.expression.text === 'sh';
}

/** `file:line: sh.raw(<argument>)` for every sh.raw call whose argument is not a constant. */
export function nonConstantRawCalls(file: string, text = readFileSync(file, 'utf8')): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isCallExpression(node) && isShRaw(node) && !(node.arguments.length === 1 && isConstant(node.arguments[0]))) {
      const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
      found.push(`${path.relative(SERVER, file)}:${line}: ${node.getText(source).slice(0, 120)}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('sh.raw takes only constants', () => {
  it('the walker tells constants from everything else', () => {
    const calls = nonConstantRawCalls(
      'example.ts',
      [
        "sh.raw('2>&1');",
        'sh.raw(`set -eu`);',
        "sh.raw('a' + `b`);",
        "sh.raw(['x', 'y'].join('\\n'));",
        'sh.raw(name);',
        'sh.raw(`exit ${code}`);',
        'sh.raw(String(86));',
        "sh.raw(lines.join('\\n'));",
        "sh.raw(['x', user].join(' '));",
        "sh.raw('a' + b);",
      ].join('\n'),
    );
    expect(calls.map((call) => call.replace(/^.*?: /, ''))).toEqual([
      'sh.raw(name)',
      'sh.raw(`exit ${code}`)',
      'sh.raw(String(86))',
      "sh.raw(lines.join('\\n'))",
      "sh.raw(['x', user].join(' '))",
      "sh.raw('a' + b)",
    ]);
  });

  it('no production file under server/ passes sh.raw anything but a constant', () => {
    const files = productionFiles(SERVER);
    expect(files.length).toBeGreaterThan(50);
    expect(files.flatMap((file) => nonConstantRawCalls(file))).toEqual([]);
  });
});

/**
 * The core (`backend/database/router/`) has one entry point, its
 * `index.ts`: domain services, the Encore declarations and the standalone
 * server import the core only from there, so what they may use is one
 * list, and the core's files can move without touching them. Inside the
 * core nothing imports the entry point (it would tie every module to all
 * the others). Dynamic `import()` and `import("…").T` types count like a
 * static import. (Tests and benchmarks may reach inner modules.)
 */
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
const core = path.join(root, "backend/database/router");
const entry = path.join(core, "index");

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

/** Every relative module specifier of `file`: imports, re-exports, import(), import types. */
function specifiers(file: string): string[] {
  const sf = ts.createSourceFile(
    file,
    fs.readFileSync(file, "utf8"),
    ts.ScriptTarget.ES2022,
    true,
  );
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    )
      out.push(node.moduleSpecifier.text);
    else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    )
      out.push(node.argument.literal.text);
    else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteral(node.arguments[0])
    )
      out.push(node.arguments[0].text);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out.filter((s) => s.startsWith("."));
}

/** The module `spec` names from `file`, without extension. */
function target(file: string, spec: string): string {
  return path
    .resolve(path.dirname(file), spec)
    .replace(/\.(ts|js)$/, "")
    .replace(/\/$/, "");
}

const inCore = (p: string) => p === core || p.startsWith(core + path.sep);

describe("the core's entry point", () => {
  it("code outside the core imports it only through backend/database/router/index.ts", () => {
    const offenders: string[] = [];
    for (const file of tsFiles(path.join(root, "backend"))) {
      if (inCore(file)) continue;
      for (const spec of specifiers(file)) {
        const t = target(file, spec);
        if (inCore(t) && t !== entry)
          offenders.push(`${path.relative(root, file)}: "${spec}"`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it("code inside the core never imports the entry point", () => {
    const offenders: string[] = [];
    for (const file of tsFiles(core)) {
      if (target(file, ".") + "/" + path.basename(file, ".ts") === entry)
        continue; // the entry point itself
      for (const spec of specifiers(file))
        if ([entry, core].includes(target(file, spec)))
          offenders.push(`${path.relative(root, file)}: "${spec}"`);
    }
    expect(offenders).toEqual([]);
  });

  it("the entry point re-exports only the core's own modules", () => {
    const outside = specifiers(`${entry}.ts`).filter(
      (spec) => !inCore(target(`${entry}.ts`, spec)),
    );
    expect(outside).toEqual([]);
  });
});

/**
 * The import graph of the repository's TypeScript, read with the TypeScript
 * parser: which relative modules each file imports (at run time, or with
 * its types too), between files and between folders. Used by the house
 * rules' tests (import cycles, the core's entry point, domains).
 */
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

export const root = path.resolve(import.meta.dirname, "../..");

/** Relative specifiers a file imports, type-only imports included. */
export function allImports(fileName: string, text: string): string[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022);
  return sf.statements
    .flatMap((st) =>
      (ts.isImportDeclaration(st) || ts.isExportDeclaration(st)) &&
      st.moduleSpecifier !== undefined &&
      ts.isStringLiteral(st.moduleSpecifier)
        ? [st.moduleSpecifier.text]
        : [],
    )
    .filter((s) => s.startsWith("."));
}

/** Relative specifiers a file imports at run time. */
export function runtimeImports(fileName: string, text: string): string[] {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022);
  const out: string[] = [];
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      const clause = st.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) out.push(st.moduleSpecifier.text);
    } else if (
      ts.isExportDeclaration(st) &&
      !st.isTypeOnly &&
      st.moduleSpecifier !== undefined &&
      ts.isStringLiteral(st.moduleSpecifier)
    ) {
      out.push(st.moduleSpecifier.text);
    }
  }
  return out.filter((s) => s.startsWith("."));
}

/** The run-time import graph of `files` (path -> source): each file's imports among them. */
export function importGraph(
  files: ReadonlyMap<string, string>,
): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const [file, text] of files) {
    graph.set(
      file,
      runtimeImports(file, text)
        .map((spec) => {
          const base = path.join(path.dirname(file), spec);
          return [base, `${base}.ts`, path.join(base, "index.ts")].find((c) =>
            files.has(c),
          );
        })
        .filter((f): f is string => f !== undefined),
    );
  }
  return graph;
}

/** The same graph between folders: an edge for every import from one folder into another. */
export function folderGraph(
  files: ReadonlyMap<string, string>,
): Map<string, string[]> {
  const folders = new Map<string, Set<string>>();
  for (const [file, deps] of importGraph(files)) {
    const from = path.dirname(file);
    const out = folders.get(from) ?? new Set<string>();
    folders.set(from, out);
    for (const d of deps)
      if (path.dirname(d) !== from) out.add(path.dirname(d));
  }
  return new Map([...folders].map(([f, ds]) => [f, [...ds].sort()]));
}

/** Every cycle of a graph, each as a list of nodes that ends where it starts. */
export function cyclesOf(
  graph: ReadonlyMap<string, readonly string[]>,
): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, "open");
    stack.push(n);
    for (const d of graph.get(n) ?? []) {
      if (state.get(d) === "open")
        cycles.push([...stack.slice(stack.indexOf(d)), d]);
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(n, "done");
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return cycles;
}

/** Every cycle of the run-time import graph of `files` (path -> source), each as a list of paths. */
export function findCycles(files: ReadonlyMap<string, string>): string[][] {
  return cyclesOf(importGraph(files));
}

export function backendFiles(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith(".ts"))
        files.set(path.relative(root, p), fs.readFileSync(p, "utf8"));
    }
  };
  walk(path.join(root, "backend"));
  return files;
}

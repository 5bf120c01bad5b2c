/**
 * No run-time import cycles under backend/: a cycle makes module
 * initialisation order matter (a class read before its module has run is
 * `undefined`), and is the first sign that two concerns have grown into
 * one. Type-only imports (`import type`, `import { type X }` only) are
 * erased at compile time and do not count.
 */
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");

/** Relative specifiers a file imports, type-only imports included. */
function allImports(fileName: string, text: string): string[] {
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

/** Every cycle of the run-time import graph of `files` (path -> source), each as a list of paths. */
export function findCycles(files: ReadonlyMap<string, string>): string[][] {
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

function backendFiles(): Map<string, string> {
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

describe("import graph", () => {
  it("backend/ has no run-time import cycle", () => {
    const files = backendFiles();
    expect(files.size).toBeGreaterThan(50);
    const cycles = findCycles(files).map((c) => c.join(" -> "));
    expect(cycles).toEqual([]);
  });

  it("the router's collaborators and connections never import the router class (not even its types)", () => {
    // docs/architecture.md: connections depend on StatementPaths, and every
    // folder under router/ works without knowing who composes it.
    const router = path.join("backend", "database", "router");
    const composer = path.join(router, "replica_router");
    const offenders: string[] = [];
    for (const [file, text] of backendFiles()) {
      const inSubfolder =
        file.startsWith(router + path.sep) && path.dirname(file) !== router;
      const isConnection = file === path.join(router, "routed_connections.ts");
      if (!inSubfolder && !isConnection) continue;
      for (const spec of allImports(file, text))
        if (
          path.join(path.dirname(file), spec).replace(/\.[jt]s$/, "") ===
          composer
        )
          offenders.push(`${file} imports ${spec}`);
    }
    expect(offenders).toEqual([]);
  });

  it("finds a cycle when there is one, and ignores type-only imports", () => {
    const cyclic = new Map([
      ["a.ts", `import { b } from "./b";\nexport const a = b;`],
      ["b.ts", `import { c } from "./c";\nexport const b = c;`],
      ["c.ts", `import { a } from "./a";\nexport const c = 1; void a;`],
    ]);
    expect(findCycles(cyclic)).toEqual([["a.ts", "b.ts", "c.ts", "a.ts"]]);
    const typeOnly = new Map([
      ["a.ts", `import type { B } from "./b";\nexport type A = B;`],
      [
        "b.ts",
        `import { type A } from "./a";\nexport const b = 1 as unknown as A;`,
      ],
    ]);
    expect(findCycles(typeOnly)).toEqual([]);
    const reexport = new Map([
      ["a.ts", `export { b } from "./b";`],
      ["b.ts", `import { a } from "./a";\nexport const b = a;`],
    ]);
    expect(findCycles(reexport)).toHaveLength(1);
  });
});

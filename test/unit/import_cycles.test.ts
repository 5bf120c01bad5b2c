/**
 * No run-time import cycles under backend/: a cycle makes module
 * initialisation order matter (a class read before its module has run is
 * `undefined`), and is the first sign that two concerns have grown into
 * one. Type-only imports (`import type`, `import { type X }` only) are
 * erased at compile time and do not count.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  allImports,
  backendFiles,
  cyclesOf,
  findCycles,
  folderGraph,
} from "../support/import_graph";

describe("import graph", () => {
  it("backend/ has no run-time import cycle", () => {
    const files = backendFiles();
    expect(files.size).toBeGreaterThan(50);
    const cycles = findCycles(files).map((c) => c.join(" -> "));
    expect(cycles).toEqual([]);
  });

  it("backend/ has no run-time import cycle between folders", () => {
    const cycles = cyclesOf(folderGraph(backendFiles())).map((c) =>
      c.join(" -> "),
    );
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

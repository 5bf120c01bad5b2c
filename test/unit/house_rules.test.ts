/**
 * The house rules of backend/ (docs/architecture.md, "Rooms"): the database
 * service knows no domain; a domain is named (imported) only by its own
 * folder and the composition root's list, backend/domains.ts; code outside
 * the core talks to the router through its roles (router/roles.ts); no file
 * is over 400 lines.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { DOMAINS } from "../../backend/domains";
import { allImports, backendFiles } from "../support/import_graph";

/** The longest a file under backend/ may be (STYLE.md). */
const MAX_LINES = 400;

/** Every import (types included) from `file` into `folder`, as `file imports spec`. */
function importsInto(
  files: ReadonlyMap<string, string>,
  folder: string,
  skip: (file: string) => boolean,
): string[] {
  const out: string[] = [];
  for (const [file, text] of files) {
    if (skip(file)) continue;
    for (const spec of allImports(file, text)) {
      const target = path.join(path.dirname(file), spec);
      if (target === folder || target.startsWith(folder + path.sep))
        out.push(`${file} imports ${spec}`);
    }
  }
  return out;
}

describe("house rules of backend/", () => {
  const files = backendFiles();
  const domainFolders = DOMAINS.map((d) => path.join("backend", d.name));

  it("every domain of the list has a folder of its own", () => {
    expect(DOMAINS.length).toBeGreaterThanOrEqual(2);
    for (const folder of domainFolders)
      expect(
        [...files.keys()].some((f) => f.startsWith(folder + path.sep)),
      ).toBe(true);
  });

  it("backend/database/ imports no domain, not even its types", () => {
    const database = path.join("backend", "database") + path.sep;
    const offenders = domainFolders.flatMap((folder) =>
      importsInto(files, folder, (f) => !f.startsWith(database)),
    );
    expect(offenders).toEqual([]);
  });

  it("a domain is imported only by its own folder and backend/domains.ts", () => {
    const root = path.join("backend", "domains.ts");
    const offenders = domainFolders.flatMap((folder) =>
      importsInto(
        files,
        folder,
        (f) => f === root || f.startsWith(folder + path.sep),
      ),
    );
    expect(offenders).toEqual([]);
  });

  it("the import check sees an import into a domain", () => {
    const planted = new Map([
      [
        path.join("backend", "database", "x.ts"),
        `import type { Invoice } from "../invoices/invoice_repository";`,
      ],
    ]);
    expect(
      importsInto(planted, path.join("backend", "invoices"), () => false),
    ).toEqual([
      `${path.join("backend", "database", "x.ts")} imports ../invoices/invoice_repository`,
    ]);
  });

  it("outside the core only the composition root names the router class; the rest take its roles", () => {
    const core = path.join("backend", "database", "router") + path.sep;
    const root = path.join("backend", "database", "service.ts");
    const naming = [...files]
      .filter(([file]) => !file.startsWith(core) && file !== root)
      .filter(([, text]) => /\bReplicaRouter\b/.test(text))
      .map(([file]) => file);
    expect(naming).toEqual([]);
  });

  it(`no file under backend/ is over ${MAX_LINES} lines`, () => {
    const long = [...files]
      .map(([file, text]) => ({ file, lines: text.split("\n").length - 1 }))
      .filter((f) => f.lines > MAX_LINES)
      .map((f) => `${f.file}: ${f.lines}`);
    expect(long).toEqual([]);
  });
});

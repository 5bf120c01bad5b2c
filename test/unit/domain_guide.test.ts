/**
 * docs/domain-services.md cannot drift from the example it describes:
 * every repository path it names exists, and every code excerpt tagged
 * `file=<path>` appears in that file, line by line and in order (gaps
 * allowed, marked `...` in the excerpt).
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
const GUIDE = "docs/domain-services.md";
const guide = fs.readFileSync(path.join(root, GUIDE), "utf8");

/** A line that only marks elided code. */
const ELISION = /^(\/\/|--)?\s*\.\.\.$/;

/**
 * The excerpt's lines missing from `source` (compared trimmed, in order);
 * empty when every line is found after the previous one.
 */
function missingLines(excerpt: string, source: string): string[] {
  const lines = source.split("\n").map((l) => l.trim());
  const missing: string[] = [];
  let at = 0;
  for (const raw of excerpt.split("\n")) {
    const line = raw.trim();
    if (line === "" || ELISION.test(line)) continue;
    const found = lines.indexOf(line, at);
    if (found === -1) missing.push(line);
    else at = found + 1;
  }
  return missing;
}

/** Paths in backticks that point into the repository (globs allowed in the file name). */
function namedPaths(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(
    /`((?:backend|test|docs|migrations)\/[\w./*-]+|tsconfig[\w.]*\.json)`/g,
  ))
    out.add(m[1]!);
  return [...out];
}

function exists(p: string): boolean {
  if (!p.includes("*")) return fs.existsSync(path.join(root, p));
  const dir = path.join(root, path.dirname(p));
  const re = new RegExp(
    `^${path.basename(p).replace(/\./g, "\\.").replace(/\*/g, ".*")}$`,
  );
  return fs.existsSync(dir) && fs.readdirSync(dir).some((f) => re.test(f));
}

const EXCERPTS = [...guide.matchAll(/```\w+ file=(\S+)\n([\s\S]*?)```/g)].map(
  (m) => ({ file: m[1]!, text: m[2]! }),
);

describe(GUIDE, () => {
  it("names only paths that exist", () => {
    const paths = namedPaths(guide);
    expect(paths.length).toBeGreaterThan(15);
    expect(paths.filter((p) => !exists(p))).toEqual([]);
  });

  it("quotes its excerpts from the files it names", () => {
    expect(EXCERPTS.length).toBeGreaterThanOrEqual(8);
    for (const { file, text } of EXCERPTS) {
      const source = fs.readFileSync(path.join(root, file), "utf8");
      expect(missingLines(text, source), `excerpt of ${file}`).toEqual([]);
    }
  });

  it("the excerpt check fails on a changed or reordered line", () => {
    const source = "a();\n  b();\nc();\n";
    expect(missingLines("a();\n// ...\nc();", source)).toEqual([]);
    expect(missingLines("a();\nb(1);", source)).toEqual(["b(1);"]);
    expect(missingLines("c();\na();", source)).toEqual(["a();"]);
  });
});

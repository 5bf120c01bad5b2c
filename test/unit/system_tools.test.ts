/**
 * The optional system tools' bookkeeping: every test file that skips
 * without a tool is in a group the global setup announces, under the
 * project vitest runs it in; and under CI a missing tool is an error.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  CHROMIUM,
  haveTool,
  REDIS_SERVER,
  skipNotice,
  TOOL_GROUPS,
  type SystemTool,
} from "../integration/helpers/system_tools";

const dir = path.resolve(import.meta.dirname, "../integration");
const vitestConfig = readFileSync(
  path.resolve(import.meta.dirname, "../../vitest.config.ts"),
  "utf8",
);
const missing: SystemTool = {
  program: "no-such-tool",
  install: "apt-get install -y no-such-tool",
  find: () => null,
};

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("optional system tools", () => {
  it.each([
    ["REDIS_SERVER", REDIS_SERVER],
    ["CHROMIUM", CHROMIUM],
  ] as const)(
    "the files that check %s are exactly its groups' files",
    (name, tool) => {
      const checking = readdirSync(dir)
        .filter((f) => f.endsWith(".test.ts"))
        .filter((f) =>
          readFileSync(path.join(dir, f), "utf8").includes(`haveTool(${name})`),
        )
        .sort();
      const listed = TOOL_GROUPS.filter((g) => g.tool === tool)
        .flatMap((g) => g.files)
        .sort();
      expect(checking.length).toBeGreaterThan(0);
      expect(listed).toEqual(checking);
    },
  );

  it("each group names the project that runs its files", () => {
    for (const group of TOOL_GROUPS)
      for (const file of group.files) {
        const inLoad = vitestConfig.includes(`"test/integration/${file}"`);
        expect(group.project, file).toBe(inLoad ? "load" : "integration");
      }
  });

  it("outside CI a missing tool skips with a line naming how to install it", () => {
    vi.stubEnv("CI", "");
    expect(haveTool(missing)).toBe(false);
    expect(
      skipNotice({
        tool: missing,
        project: "integration",
        what: "x",
        files: ["a.test.ts"],
      }),
    ).toBe(
      "skipped x (a.test.ts): no-such-tool not found; to run them: apt-get install -y no-such-tool",
    );
  });

  it("under CI=true a missing tool is an error that says why", () => {
    vi.stubEnv("CI", "true");
    expect(() => haveTool(missing)).toThrow(
      /CI=true and no-such-tool is not installed.*apt-get install -y no-such-tool/,
    );
  });
});

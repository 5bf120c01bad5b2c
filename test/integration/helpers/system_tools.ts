/**
 * System packages that some test groups need beyond what `npm start` needs
 * (the PostgreSQL server binaries). `npm test` does not install them: that
 * needs root and a package manager, and a test run should not change the
 * machine. Outside CI a missing one skips its groups, each named once by
 * the global setup with the command that installs it; with `CI=true` a
 * missing one fails the run (`.ci/run` installs both).
 */
import { accessSync, constants } from "node:fs";
import path from "node:path";

/** A program from a system package, and how to find it. */
export interface SystemTool {
  /** The program, as the messages name it. */
  readonly program: string;
  /** The shell command that installs it on Debian. */
  readonly install: string;
  /** Its absolute path, or null when it is not installed. */
  find(): string | null;
}

function firstExecutable(candidates: ReadonlyArray<string | undefined>) {
  for (const candidate of candidates) {
    if (candidate === undefined || candidate === "") continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next one
    }
  }
  return null;
}

function onPath(program: string): string[] {
  return (process.env.PATH ?? "")
    .split(path.delimiter)
    .filter((d) => d !== "")
    .map((d) => path.join(d, program));
}

/** Debian's `redis-server`: the cache's shared tier in the Redis tests. */
export const REDIS_SERVER: SystemTool = {
  program: "redis-server",
  install: "apt-get install -y redis-server",
  find: () =>
    firstExecutable([
      ...onPath("redis-server"),
      "/usr/bin/redis-server",
      "/usr/local/bin/redis-server",
    ]),
};

/** Debian's `chromium` (or `CHROMIUM_PATH`): the dashboard's browser tests. */
export const CHROMIUM: SystemTool = {
  program: "chromium",
  install: "apt-get install -y chromium (or set CHROMIUM_PATH)",
  find: () =>
    firstExecutable([
      process.env.CHROMIUM_PATH,
      "/usr/bin/chromium",
      "/usr/bin/chromium-browser",
    ]),
};

/** A group of test files that needs a tool, and the vitest project that runs them. */
export interface ToolGroup {
  readonly tool: SystemTool;
  /** The vitest project (vitest.config.ts) whose global setup names the skip. */
  readonly project: "integration" | "load";
  /** What is skipped, for the one line that says so. */
  readonly what: string;
  /** Its files under test/integration/ (test/unit/system_tools.test.ts keeps the list true). */
  readonly files: readonly string[];
}

/** Every group that needs an optional tool. */
export const TOOL_GROUPS: readonly ToolGroup[] = [
  {
    tool: REDIS_SERVER,
    project: "integration",
    what: "the Redis cache tests",
    files: [
      "cache_redis.test.ts",
      "cache_redis_outage.test.ts",
      "redis_store.test.ts",
    ],
  },
  {
    tool: CHROMIUM,
    project: "integration",
    what: "the dashboard's browser tests",
    files: ["dashboard.test.ts"],
  },
];

/** True under `CI=true`, where every optional tool is required. */
export const onCi = (): boolean => process.env.CI === "true";

/**
 * Whether `tool` is installed. Test files call it to skip their groups;
 * under CI a missing tool throws, so nothing is skipped there silently.
 * @throws Error naming the tool and its install command, under `CI=true`.
 */
export function haveTool(tool: SystemTool): boolean {
  if (tool.find() !== null) return true;
  if (onCi()) throw new Error(missingOnCi(tool));
  return false;
}

/** The message of a run that fails under CI for a missing tool. */
export function missingOnCi(tool: SystemTool): string {
  return `CI=true and ${tool.program} is not installed: the tests that need it may not be skipped on CI; install it (${tool.install}), as .ci/run does`;
}

/** The one line naming a skipped group and how to install what it needs. */
export function skipNotice(group: ToolGroup): string {
  return `skipped ${group.what} (${group.files.join(", ")}): ${group.tool.program} not found; to run them: ${group.tool.install}`;
}

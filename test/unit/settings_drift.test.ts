/**
 * One settings table (backend/database/router/config/settings.ts), and
 * nothing drifts from it:
 * - the README's two settings tables are exactly what the table generates;
 * - every default the table shows in backticks, or as a size in MiB/KiB,
 *   parses to exactly the value the service uses when the variable is
 *   unset ("none" must be no value);
 * - every variable the configuration code reads is in the table;
 * - no code under backend/ reads `process.env` but the two entry points;
 * - a bare number is milliseconds for every duration, and refused where it
 *   used to mean seconds.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  envSchema,
  SETTINGS,
  type Setting,
} from "../../backend/database/router/config/settings";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { withSettingsTables } from "../../scripts/settings_docs";
import { backendFiles } from "../support/import_graph";

const root = path.resolve(import.meta.dirname, "../..");
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
const table = SETTINGS as Record<string, Setting>;

/** The environment value a shown default stands for, or undefined when it names none. */
function asEnv(shown: string): string | undefined {
  const tick = /^`([^`]*)`$/.exec(shown);
  if (tick) return tick[1];
  const size = /^(\d+) (MiB|KiB)$/.exec(shown);
  if (size)
    return String(Number(size[1]) * (size[2] === "MiB" ? 1024 * 1024 : 1024));
  return undefined;
}

/** What differs between the table's shown defaults and the parsers' defaults, as lines; and how many were checked. */
export function defaultDrift(settings: Record<string, Setting>): {
  drift: string[];
  checked: number;
} {
  const drift: string[] = [];
  let checked = 0;
  for (const [name, s] of Object.entries(settings)) {
    if (s.parser === null) continue;
    const unset = s.parser.safeParse(undefined);
    const fallback = unset.success ? unset.data : "invalid";
    const env = asEnv(s.shown);
    if (env !== undefined) {
      checked++;
      const parsed = s.parser.safeParse(env);
      const value = parsed.success
        ? parsed.data
        : `invalid (${parsed.error.issues[0]?.message})`;
      if (JSON.stringify(value) !== JSON.stringify(fallback))
        drift.push(
          `${name}: shown ${s.shown} = ${JSON.stringify(value)}, service default ${JSON.stringify(fallback)}`,
        );
    } else if (s.shown === "none") {
      checked++;
      const v = fallback;
      if (!(
        v === null ||
        v === undefined ||
        (Array.isArray(v) && v.length === 0)
      ))
        drift.push(`${name}: shown none, service default ${JSON.stringify(v)}`);
    }
  }
  return { drift, checked };
}

describe("the settings table", () => {
  it("is what the README shows: both tables generated from it (npm run docs:settings)", () => {
    expect(readme).toContain("<!-- settings:basic:");
    expect(readme).toContain("<!-- settings:advanced:");
    expect(withSettingsTables(readme)).toBe(readme);
  });

  it("shows each default as the value the service uses when the variable is unset", () => {
    const { drift, checked } = defaultDrift(table);
    expect(drift).toEqual([]);
    // Most of the table is checked, not skipped.
    expect(checked).toBeGreaterThan(40);
  });

  it("the default check sees a shown default that is not the parser's", () => {
    const { drift } = defaultDrift({
      DB_POOL_QUEUE_TIMEOUT: { ...table.DB_POOL_QUEUE_TIMEOUT!, shown: "`2s`" },
    });
    expect(drift).toEqual([
      "DB_POOL_QUEUE_TIMEOUT: shown `2s` = 2000, service default 1000",
    ]);
  });

  it("validation runs from it: the schema parses exactly the settings with a parser", () => {
    const parsed = Object.entries(table)
      .filter(([, s]) => s.parser !== null)
      .map(([n]) => n);
    expect(Object.keys(envSchema.shape).sort()).toEqual(parsed.sort());
    // Those without one name the module that reads them.
    for (const [name, s] of Object.entries(table))
      if (s.parser === null)
        expect(
          fs.existsSync(path.join(root, "backend", s.parsedBy ?? "?")),
          name,
        ).toBe(true);
  });

  it("names every variable the configuration code reads", () => {
    const read = new Set<string>();
    for (const [file, text] of backendFiles()) {
      if (
        !file.includes(`${path.sep}config${path.sep}`) &&
        !file.endsWith("main.ts")
      )
        continue;
      for (const m of text.matchAll(/\benv(?:\.|\[")([A-Z][A-Z0-9_]{2,})/g))
        read.add(m[1]!);
    }
    expect(read.size).toBeGreaterThan(3);
    const documented = Object.keys(table).join(" ");
    // READ_REPLICA_<N>_CONNECTION_STRING is documented under READ_REPLICA_URLS.
    expect(
      [...read].filter((v) => !(v in table) && !documented.includes(v)),
    ).toEqual([]);
  });

  it("no file under backend/ reads process.env but the two entry points", () => {
    const entryPoints = [
      path.join("backend", "standalone", "main.ts"),
      path.join("backend", "database", "encore", "service.ts"),
    ];
    const readers = [...backendFiles()]
      .filter(([, text]) => /process\.env\b/.test(text))
      .map(([file]) => file)
      .filter((f) => !entryPoints.includes(f))
      // The child processes of the local cluster get the environment, minus PG*.
      .filter((f) => !f.endsWith(path.join("local_cluster", "pg_binaries.ts")));
    expect(readers).toEqual([]);
  });

  it("a bare number is milliseconds for every duration; refused where it meant seconds", () => {
    const base = { DATABASE_URL: "postgres://u@127.0.0.1:5432/app" };
    const config = loadConfig({
      ...base,
      REPLICA_HEALTH_CHECK_INTERVAL: "1500",
      FLEET_POLL_INTERVAL: "250",
    });
    expect(config.router.healthCheckIntervalMs).toBe(1500);
    expect(config.fleet.pollIntervalMs).toBe(250);
    expect(
      loadConfig({ ...base, REPLICA_MAX_LAG_SECONDS: "5s" }).router
        .maxLagSeconds,
    ).toBe(5);
    for (const name of [
      "REPLICA_MAX_LAG_SECONDS",
      "REPLICA_LAG_WARNING_THRESHOLD",
      "REPLICA_LAG_CRITICAL_THRESHOLD",
    ])
      expect(() => loadConfig({ ...base, [name]: "30" }), name).toThrow(
        new RegExp(
          `${name}: a bare number is ambiguous here.*write the unit \\(30s or 30ms\\)`,
        ),
      );
    const durations = Object.values(table).filter((s) => s.unit === "duration");
    expect(durations.length).toBeGreaterThan(20);
  });
});

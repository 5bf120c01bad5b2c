/**
 * The README's settings table cannot drift from the settings the service
 * parses (backend/database/router/config/env_schema.ts): every variable the
 * schema reads is in the table, and every default the table shows in
 * backticks, or as a size in MiB/KiB, parses to exactly the value the
 * service uses when the variable is unset. ("none" must be what an unset
 * variable gives: no value.)
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { envSchema } from "../../backend/database/router/config/env_schema";

const root = path.resolve(import.meta.dirname, "../..");
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");

/** The rows of the README's settings table: variable names and their shown defaults, paired. */
function settingsRows(): { name: string; shown: string }[] {
  const start = readme.indexOf("| variable | default | meaning |");
  if (start < 0) throw new Error("README has no settings table");
  const rows: { name: string; shown: string }[] = [];
  for (const line of readme.slice(start).split("\n").slice(2)) {
    if (!line.startsWith("|")) break;
    const [, vars, defaults] = line.split("|").map((c) => c.trim());
    const names = vars!.split(" / ").map((v) => v.replace(/`/g, "").trim());
    const shown = defaults!.split(" / ").map((d) => d.trim());
    const first = names[0]!;
    names.forEach((n, i) => {
      // `_MAX` after `REPLICA_ATTEMPT_DEADLINE_MIN`: the same name, its last segments replaced.
      const name = n.startsWith("_")
        ? first
            .split("_")
            .slice(0, -(n.split("_").length - 1))
            .join("_") + n
        : n;
      rows.push({
        name,
        shown: shown.length === names.length ? shown[i]! : "",
      });
    });
  }
  return rows;
}

/** The environment value a shown default stands for, or undefined when it names none. */
function asEnv(shown: string): string | undefined {
  const tick = /^`([^`]*)`$/.exec(shown);
  if (tick) return tick[1];
  const size = /^(\d+) (MiB|KiB)$/.exec(shown);
  if (size)
    return String(Number(size[1]) * (size[2] === "MiB" ? 1024 * 1024 : 1024));
  return undefined;
}

const defaults = envSchema.parse({}) as Record<string, unknown>;
const keys = Object.keys(envSchema.shape);

describe("README settings table", () => {
  const rows = settingsRows();

  it("lists every variable the service reads", () => {
    const table = readme.slice(
      readme.indexOf("| variable | default | meaning |"),
    );
    // Named in the variable column (shorthands like `_MAX` expanded), or in a row's text (REPLICA_WEIGHTS).
    const named = new Set(rows.map((r) => r.name));
    const missing = keys.filter((k) => !named.has(k) && !table.includes(k));
    expect(missing).toEqual([]);
  });

  it("shows each default as the value the service uses when the variable is unset", () => {
    const drift: string[] = [];
    let checked = 0;
    for (const { name, shown } of rows) {
      if (!keys.includes(name)) continue;
      const env = asEnv(shown);
      if (env !== undefined) {
        const parsed = envSchema.safeParse({ [name]: env });
        const value = parsed.success
          ? (parsed.data as Record<string, unknown>)[name]
          : `invalid (${parsed.error.issues[0]?.message})`;
        checked++;
        if (JSON.stringify(value) !== JSON.stringify(defaults[name]))
          drift.push(
            `${name}: README ${shown} = ${JSON.stringify(value)}, service default ${JSON.stringify(defaults[name])}`,
          );
      } else if (shown === "none") {
        checked++;
        const v = defaults[name];
        if (!(
          v === null ||
          v === undefined ||
          (Array.isArray(v) && v.length === 0)
        ))
          drift.push(
            `${name}: README none, service default ${JSON.stringify(v)}`,
          );
      }
    }
    expect(drift).toEqual([]);
    // Most of the table is checked, not skipped.
    expect(checked).toBeGreaterThan(30);
  });
});

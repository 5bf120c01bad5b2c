import { describe, expect, it } from "vitest";
import { ManualClock } from "../../backend/database/router/clock";
import { classifierCacheSize, classifySql, classifySqlCached } from "../../backend/database/router/sql_classifier";
import { VolatileFunctionCatalog } from "../../backend/database/router/volatile_functions";
import { STATEMENTS } from "../fixtures/sql_statements";

// The router's rule: read-only by the classifier AND no VOLATILE user function.
const catalog = new VolatileFunctionCatalog();
await catalog.load({ query: async () => ({ rows: [{ schema: "public", name: "bump" }] }) });
const routedToReplica = (sql: string) => {
  const c = classifySql(sql);
  return c.readOnly && !catalog.hasVolatile(c.functions);
};

describe("SQL classification table", () => {
  it("has at least 80 hand-marked statements", () => {
    expect(STATEMENTS.length).toBeGreaterThanOrEqual(80);
  });

  it.each(STATEMENTS)("$sql → write=$write", ({ sql, write }) => {
    expect(routedToReplica(sql)).toBe(!write);
  });
});

describe("classifier details", () => {
  it("names the reason of a write", () => {
    expect(classifySql("SELECT * FROM t FOR UPDATE")).toMatchObject({ readOnly: false, reason: expect.stringMatching(/FOR UPDATE/) });
    expect(classifySql("SELECT 1; SELECT 2")).toMatchObject({ reason: "multiple statements" });
    expect(classifySql("SELECT 'x")).toMatchObject({ reason: expect.stringMatching(/unparseable/) });
  });

  it("reports the functions a read calls, bare and schema-qualified", () => {
    const c = classifySql("SELECT my_fn(1), s.other_fn(2), \"Quoted\"(3) FROM t WHERE id IN (1)");
    expect(c.readOnly).toBe(true);
    if (c.readOnly) expect([...c.functions].sort()).toEqual(["my_fn", "other_fn", "quoted", "s.other_fn"]);
  });

  it("memoises with a bound", () => {
    const a = classifySqlCached("SELECT 42");
    expect(classifySqlCached("SELECT 42")).toBe(a);
    for (let i = 0; i < 1500; i++) classifySqlCached(`SELECT ${i}`);
    expect(classifierCacheSize()).toBeLessThanOrEqual(1000);
  });
});

describe("VolatileFunctionCatalog", () => {
  it("loads with one query, matches bare and qualified names, and goes stale", async () => {
    const clock = new ManualClock();
    const queries: string[] = [];
    const cat = new VolatileFunctionCatalog({ clock, refreshIntervalMs: 1000 });
    expect(cat.loaded).toBe(false);
    expect(cat.isStale()).toBe(true);
    await cat.load({
      query: async (text) => {
        queries.push(text);
        return { rows: [{ schema: "public", name: "bump_counter" }] };
      },
    });
    expect(queries).toHaveLength(1);
    expect(queries[0]).toMatch(/provolatile = 'v'/);
    expect(queries[0]).toMatch(/NOT IN \('pg_catalog', 'information_schema'\)/);
    expect(cat.hasVolatile(["bump_counter"])).toBe(true);
    expect(cat.hasVolatile(["public.bump_counter"])).toBe(true);
    expect(cat.hasVolatile(["stable_fn", "count"])).toBe(false);
    clock.advance(999);
    expect(cat.isStale()).toBe(false);
    clock.advance(1);
    expect(cat.isStale()).toBe(true);
  });
});

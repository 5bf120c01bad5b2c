/**
 * RawSqlGate beyond the classifier: statements a standby refused anyway are
 * remembered (sent to the primary next time, logged once per shape), the
 * temporary-schema refusal moves current_schema() to the primary, and
 * READ_ONLY_FUNCTIONS takes listed VOLATILE user functions off the catalog.
 */
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../backend/database/router/support/clock";
import { silentLogger } from "../../backend/database/router/support/logger";
import { RawSqlGate } from "../../backend/database/router/sql/raw_sql_gate";
import {
  REFUSAL_MEMORY_MAX_ENTRIES,
  RefusalMemory,
  statementShape,
} from "../../backend/database/router/sql/refusal_memory";
import { VolatileFunctionCatalog } from "../../backend/database/router/sql/volatile_functions";

type Row = { schema_name: string; function_name: string };

async function gateWith(
  rows: Row[],
  readOnlyFunctions: string[] = [],
): Promise<RawSqlGate> {
  const catalog = new VolatileFunctionCatalog({ readOnlyFunctions });
  await catalog.load({ query: async () => ({ rows }) });
  return new RawSqlGate(catalog, () => [], {
    timeoutMs: 1000,
    clock: new ManualClock(),
    logger: silentLogger,
  });
}

const refusal = (message: string) =>
  Object.assign(new Error(message), { code: "25006" });

describe("RawSqlGate: statements a standby refused anyway", () => {
  it("sends the same text to the primary from then on, and reports each shape's first refusal once", async () => {
    const gate = await gateWith([]);
    const sql = "SELECT * FROM v_with_writes WHERE id = 1";
    expect(gate.provablyReadOnly(sql)).toBe(true);
    const first = gate.noteRefusal(
      sql,
      refusal("cannot execute INSERT in a read-only transaction"),
    );
    expect(first).toEqual({
      shape: "select * from v_with_writes where id = ?",
      firstOfShape: true,
    });
    expect(gate.provablyReadOnly(sql)).toBe(false);
    // Same shape, other literal: not logged again, but this text still gets its one try.
    const other = "SELECT * FROM v_with_writes WHERE id = 2";
    expect(gate.provablyReadOnly(other)).toBe(true);
    expect(gate.noteRefusal(other, refusal("x")).firstOfShape).toBe(false);
    expect(gate.refusals.refusals).toBe(2);
    expect(gate.refusals.refusedShapes).toBe(1);
    // Unrelated statements are untouched.
    expect(gate.provablyReadOnly("SELECT * FROM t")).toBe(true);
  });

  it("moves current_schema() and current_schemas() to the primary once a standby refused to create a temporary schema", async () => {
    const gate = await gateWith([]);
    const statements = [
      "SELECT current_schema()",
      "SELECT current_schema",
      "SELECT current_schemas(true)",
      "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()",
    ];
    for (const sql of statements) expect(gate.provablyReadOnly(sql)).toBe(true);
    expect(gate.refusals.replicaSessionsNeedTempSchema).toBe(false);
    gate.noteRefusal(
      "SELECT current_schema()",
      refusal("cannot create temporary tables during recovery"),
    );
    expect(gate.refusals.replicaSessionsNeedTempSchema).toBe(true);
    for (const sql of statements)
      expect(gate.provablyReadOnly(sql), sql).toBe(false);
    expect(gate.provablyReadOnly("SELECT now()")).toBe(true);
  });

  it("still refuses the deny-list and VOLATILE user functions, whatever it remembers", async () => {
    const gate = await gateWith([
      { schema_name: "public", function_name: "set" },
      { schema_name: "app", function_name: "filter" },
    ]);
    expect(gate.provablyReadOnly("SELECT brin_summarize_range('i', 0)")).toBe(
      false,
    );
    expect(gate.provablyReadOnly("SELECT set(1)")).toBe(false);
    expect(gate.provablyReadOnly("SELECT * FROM t WHERE filter(v)")).toBe(
      false,
    );
    expect(
      gate.provablyReadOnly("SELECT count(*) FILTER (WHERE v > 0) FROM t"),
    ).toBe(true);
  });
});

describe("READ_ONLY_FUNCTIONS in the catalog", () => {
  const rows: Row[] = [
    { schema_name: "public", function_name: "report" },
    { schema_name: "billing", function_name: "charge" },
    { schema_name: "public", function_name: "charge" },
    { schema_name: "public", function_name: "bump" },
  ];

  it("a bare name covers that function in every schema", async () => {
    const gate = await gateWith(rows, ["report", "charge"]);
    expect(gate.provablyReadOnly("SELECT report()")).toBe(true);
    expect(gate.provablyReadOnly("SELECT public.report()")).toBe(true);
    expect(gate.provablyReadOnly("SELECT billing.charge(1)")).toBe(true);
    expect(gate.provablyReadOnly("SELECT bump()")).toBe(false);
  });

  it("schema.name covers only that schema's function; a bare call stays suspect while another schema has an unlisted one", async () => {
    const gate = await gateWith(rows, ["billing.charge"]);
    expect(gate.provablyReadOnly("SELECT charge(1)")).toBe(false);
    // The bare name also matches public.charge, which is not listed: the conservative side.
    expect(gate.provablyReadOnly("SELECT billing.charge(1)")).toBe(false);
    const only = await gateWith(
      [{ schema_name: "billing", function_name: "charge" }],
      ["billing.charge"],
    );
    expect(only.provablyReadOnly("SELECT billing.charge(1)")).toBe(true);
    expect(only.provablyReadOnly("SELECT charge(1)")).toBe(true);
  });

  it("never overrides the built-ins that must run on the primary", async () => {
    const gate = await gateWith(rows, ["nextval", "gin_clean_pending_list"]);
    expect(gate.provablyReadOnly("SELECT nextval('s')")).toBe(false);
    expect(gate.provablyReadOnly("SELECT gin_clean_pending_list('i')")).toBe(
      false,
    );
  });
});

describe("RefusalMemory and statementShape", () => {
  it("shapes drop comments, literals and spacing, and keep parameters", () => {
    expect(
      statementShape(
        "SELECT  *\n FROM t /* note */ WHERE a = 'secret' AND b = 42 AND c = $1 -- tail",
      ),
    ).toBe("select * from t where a = ? and b = ? and c = $1");
    expect(
      statementShape(
        "SELECT s.f(1, 'x')::text, a[2] FROM s.t WHERE b IN ($1, $2);",
      ),
    ).toBe("select s.f(?, ?)::text, a[?] from s.t where b in($1, $2);");
    expect(statementShape('SELECT "Quoted""Name" FROM x')).toBe(
      'select "Quoted""Name" from x',
    );
    expect(statementShape("SELECT 'unterminated")).toBe("(unparseable)");
    const long = statementShape(`SELECT ${"a, ".repeat(200)}b`);
    expect(long.length).toBe(200);
    expect(long.endsWith("...")).toBe(true);
  });

  it("stays bounded, evicting the oldest texts and shapes first", () => {
    const memory = new RefusalMemory();
    memory.note("SELECT first_one FROM t", "x");
    for (let i = 0; i < REFUSAL_MEMORY_MAX_ENTRIES; i++)
      memory.note(`SELECT c${i} FROM t`, "x");
    expect(memory.refusedShapes).toBe(REFUSAL_MEMORY_MAX_ENTRIES);
    expect(memory.refused("SELECT first_one FROM t")).toBe(false);
    expect(
      memory.refused(`SELECT c${REFUSAL_MEMORY_MAX_ENTRIES - 1} FROM t`),
    ).toBe(true);
    expect(memory.note("SELECT first_one FROM t", "x").firstOfShape).toBe(true);
    expect(memory.refusals).toBe(REFUSAL_MEMORY_MAX_ENTRIES + 2);
  });
});

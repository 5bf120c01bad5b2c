/**
 * writeTargets: which tables a statement may change, for cache
 * invalidation. `[]` = proven read-only (or only locks rows), a list = the
 * targets, null = cannot tell (the caller invalidates the whole cluster).
 * The gate here is the real classifier plus a catalog of VOLATILE user
 * functions, as RawSqlGate.provablyReadOnly combines them.
 */
import { describe, expect, it } from "vitest";
import { writeTargets } from "../../backend/database/router/cache/write_targets";
import { classifySql } from "../../backend/database/router/sql/sql_classifier";

const VOLATILE = new Set(["bump_counter", "pay_invoice"]);
/** Texts a standby refused (a view over a writing function). */
const REFUSED = new Set(["SELECT count(*) FROM v"]);

const gate = {
  provablyReadOnly(sql: string): boolean {
    const c = classifySql(sql);
    return (
      c.readOnly &&
      !REFUSED.has(sql) &&
      !c.functions.some((f) => VOLATILE.has(f))
    );
  },
  mayCallWritingFunction: (functions: readonly string[]): boolean =>
    functions.some((f) => VOLATILE.has(f)),
  refusedOnStandby: (sql: string): boolean => REFUSED.has(sql),
};

/** Targets as a sorted list (order carries no meaning), or null. */
function targets(sql: string): string[] | null {
  const t = writeTargets(sql, gate);
  return t === null ? null : [...t].sort();
}

describe("writeTargets", () => {
  it.each([
    ["INSERT INTO orders (a) VALUES (1)", ["orders"]],
    ["insert into orders select * from staging", ["orders"]],
    [
      "INSERT INTO orders (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET n = orders.n + 1",
      ["orders"],
    ],
    [
      "UPDATE invoices SET paid = true FROM payments p WHERE p.id = invoices.id",
      ["invoices"],
    ],
    ["UPDATE ONLY invoices AS i SET paid = true", ["invoices"]],
    ["DELETE FROM orders WHERE id = $1", ["orders"]],
    ["DELETE FROM ONLY orders USING x WHERE orders.id = x.id", ["orders"]],
    ["EXPLAIN ANALYZE UPDATE orders SET a = 1", ["orders"]],
  ])("%s", (sql, expected) => {
    expect(targets(sql)).toEqual(expected);
  });

  it("MERGE: the target only, never the `set` of WHEN MATCHED THEN UPDATE SET", () => {
    expect(
      targets(
        "MERGE INTO invoices i USING staging s ON s.id = i.id " +
          "WHEN MATCHED THEN UPDATE SET amount = s.amount " +
          "WHEN NOT MATCHED THEN INSERT (id, amount) VALUES (s.id, s.amount)",
      ),
    ).toEqual(["invoices"]);
    expect(
      targets(
        "MERGE INTO invoices USING staging s ON s.id = invoices.id WHEN MATCHED THEN DELETE",
      ),
    ).toEqual(["invoices"]);
  });

  it.each([
    ["TRUNCATE orders", ["orders"]],
    ["TRUNCATE orders, public.invoices", ["invoices", "orders"]],
    [
      "TRUNCATE TABLE ONLY orders *, invoices RESTART IDENTITY CASCADE",
      ["invoices", "orders"],
    ],
  ])("%s", (sql, expected) => {
    expect(targets(sql)).toEqual(expected);
  });

  it("COPY ... FROM writes its table; COPY ... TO only reads", () => {
    expect(targets("COPY orders FROM STDIN")).toEqual(["orders"]);
    expect(
      targets("COPY public.orders (a, b) FROM STDIN WITH (FORMAT csv)"),
    ).toEqual(["orders"]);
    expect(targets("COPY orders TO STDOUT")).toEqual([]);
    expect(targets("COPY (SELECT * FROM orders) TO STDOUT")).toEqual([]);
  });

  it("data-modifying CTEs: every table they change", () => {
    expect(
      targets(
        "WITH moved AS (DELETE FROM staging RETURNING *) INSERT INTO orders SELECT * FROM moved",
      ),
    ).toEqual(["orders", "staging"]);
    expect(
      targets(
        "WITH u AS (UPDATE invoices SET paid = true RETURNING id) SELECT count(*) FROM u",
      ),
    ).toEqual(["invoices"]);
  });

  it("every statement of a multi-statement text", () => {
    expect(targets("UPDATE orders SET a = 1; DELETE FROM invoices")).toEqual([
      "invoices",
      "orders",
    ]);
  });

  it.each([
    "SELECT * FROM orders WHERE id = 1 FOR UPDATE",
    "SELECT * FROM orders FOR NO KEY UPDATE SKIP LOCKED",
    "SELECT * FROM orders FOR SHARE",
    "SELECT * FROM orders FOR KEY SHARE OF orders NOWAIT",
  ])("a locking SELECT changes nothing: %s", (sql) => {
    expect(gate.provablyReadOnly(sql)).toBe(false); // not a gate verdict: this module's own
    expect(targets(sql)).toEqual([]);
  });

  it.each([
    ['INSERT INTO "Orders" VALUES (1)', ["orders"]],
    ['INSERT INTO "Sales"."Orders" VALUES (1)', ["orders"]],
    ["insert into sales.orders values (1)", ["orders"]],
    [
      'UPDATE ONLY public."Invoices" AS i SET paid = true WHERE i.id = 1',
      ["invoices"],
    ],
    ['DELETE FROM "my schema"."Line Items"', ["line items"]],
  ])("schema-qualified and quoted names: %s", (sql, expected) => {
    expect(targets(sql)).toEqual(expected);
  });

  it.each([
    "CREATE TABLE archive (id int)",
    "ALTER TABLE orders ADD COLUMN note text",
    "DROP TABLE orders",
    "SELECT * INTO archive FROM orders",
    "CALL close_month()",
  ])("DDL and other statements it cannot read: null (%s)", (sql) => {
    expect(targets(sql)).toBeNull();
  });

  it("a statement proven read-only: []", () => {
    expect(targets("SELECT sum(amount) FROM orders WHERE org_id = $1")).toEqual(
      [],
    );
    expect(targets("SELECT count(*) FROM orders")).toEqual([]);
  });

  it("the gate's verdict decides what is read-only", () => {
    const sql = "SELECT * FROM orders";
    // Not read-only per the gate: here because a standby refused the text.
    const says = (readOnly: boolean) => ({
      provablyReadOnly: () => readOnly,
      mayCallWritingFunction: () => true,
      refusedOnStandby: () => !readOnly,
    });
    expect(writeTargets(sql, says(true))).toEqual([]);
    expect(writeTargets(sql, says(false))).toBeNull();
  });

  it("a call to a VOLATILE function (not provably read-only, no target): null", () => {
    expect(gate.provablyReadOnly("SELECT bump_counter()")).toBe(false);
    expect(targets("SELECT bump_counter()")).toBeNull();
    expect(targets("SELECT id, bump_counter() FROM orders")).toBeNull();
  });

  it.each([
    "SELECT 'unterminated",
    'UPDATE "never closed SET a = 1',
    "UPDATE",
    "DELETE FROM",
    "INSERT INTO",
    "TRUNCATE",
  ])("SQL it cannot parse: null (%s)", (sql) => {
    expect(targets(sql)).toBeNull();
  });

  // A locking clause alone changes nothing; with a call it may write anywhere.
  it("a locking SELECT that calls a VOLATILE function: null", () => {
    expect(
      targets("SELECT pay_invoice(id) FROM invoices WHERE id = 1 FOR UPDATE"),
    ).toBeNull();
  });

  // `ON UPDATE CASCADE` (or a trigger's AFTER UPDATE ON t) is not an UPDATE statement.
  it("DDL with ON UPDATE CASCADE: null, not a table named cascade", () => {
    expect(
      targets(
        "ALTER TABLE invoices ALTER COLUMN amount TYPE numeric USING amount / 100, " +
          "ADD CONSTRAINT invoices_customer_fk FOREIGN KEY (customer_id) " +
          "REFERENCES customers ON UPDATE CASCADE",
      ),
    ).toBeNull();
  });

  it("write keywords inside clauses are not statements", () => {
    expect(
      targets(
        "INSERT INTO t (id, v) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET v = excluded.v",
      ),
    ).toEqual(["t"]);
    expect(
      targets(
        "CREATE TRIGGER x AFTER UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f()",
      ),
    ).toBeNull();
    expect(targets("EXPLAIN ANALYZE UPDATE t SET v = 1")).toEqual(["t"]);
    expect(targets("EXPLAIN (ANALYZE, BUFFERS) DELETE FROM t")).toEqual(["t"]);
    expect(targets("INSERT INTO a VALUES (1); DROP TABLE b")).toBeNull();
  });

  it("session control and built-ins that act on the primary's state change no table", () => {
    expect(targets("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")).toEqual(
      [],
    );
    expect(
      targets("SELECT set_config('lock_timeout', $1::text, true)"),
    ).toEqual([]);
    expect(
      targets(
        "SELECT pg_advisory_xact_lock(hashtextextended('invoices.number:' || $1::text, 0))",
      ),
    ).toEqual([]);
    // ... but not a VOLATILE user function, with or without a target.
    expect(targets("SELECT bump_counter()")).toBeNull();
    expect(targets("INSERT INTO t SELECT bump_counter()")).toBeNull();
    expect(targets("SET x = 1; DROP TABLE t")).toBeNull();
  });

  it("a read a standby refused, a write in an unusual place, and COMMIT PREPARED: unknown (null)", () => {
    expect(targets("SELECT count(*) FROM v")).toBeNull();
    expect(
      targets(
        "WITH RECURSIVE r(a) AS (SELECT 1) CYCLE a SET c USING p UPDATE t SET x = 1",
      ),
    ).not.toEqual([]);
    expect(targets("COMMIT PREPARED 'tx1'")).toBeNull();
    expect(targets("SELECT nextval('s')")).toEqual([]);
  });
});

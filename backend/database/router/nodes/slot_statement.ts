import type { PgPool } from "./pg_pool";

type Row = Record<string, unknown>;

/** Who hears that a statement on its slot settled (the node: the slot goes back). */
export interface SlotOwner {
  slotDone(): void;
}

/**
 * Runs a statement on a slot just taken on `owner` and calls
 * `owner.slotDone()` once as it settles: one Promise, and pg's callback
 * form of `query` (no Promise on pg's side) where the pool has it. A pool
 * with only the Promise form (unit tests' fakes) ignores the callback and
 * returns one.
 */
export function runOnSlot(
  pool: PgPool,
  sql: string,
  params: unknown[],
  owner: SlotOwner,
): Promise<Row[]> {
  return new Promise((resolve, reject) => {
    const slot = new SlotStatement(owner, resolve, reject);
    let pending: PromiseLike<{ rows: Row[] }> | undefined;
    try {
      pending = (pool as unknown as CallbackQuery).query(
        sql,
        params,
        (err, result) => slot.settle(err, result),
      );
    } catch (error) {
      return slot.settle(error ?? new Error("query failed"));
    }
    if (pending !== undefined)
      pending.then(
        (result) => slot.settle(null, result),
        (error: unknown) => slot.settle(error ?? new Error("query failed")),
      );
  });
}

/** pg's callback form of `Pool.query` (returns nothing); fakes return a Promise instead. */
interface CallbackQuery {
  query(
    text: string,
    values: unknown[],
    callback: (
      err: Error | null,
      result: { rows: Record<string, unknown>[] },
    ) => void,
  ): PromiseLike<{ rows: Record<string, unknown>[] }> | undefined;
}

/** One statement on a slot, settled once (closures assigned to names cost a defineProperty per call under tsx). */
class SlotStatement {
  private settled = false;

  constructor(
    private readonly owner: SlotOwner,
    private readonly resolve: (rows: Record<string, unknown>[]) => void,
    private readonly reject: (err: unknown) => void,
  ) {}

  settle(err: unknown, result?: { rows: Record<string, unknown>[] }): void {
    if (this.settled) return;
    this.settled = true;
    this.owner.slotDone();
    if (err) this.reject(err);
    else this.resolve(result!.rows);
  }
}

import {
  ConnectionCapExceededError,
  type Consistency,
  type DatabaseRouter,
  InvalidArgumentError,
  type Row,
} from "../database/router/index";
import { BaseRepository } from "../shared/repositories/base_repository";

/** Allowed `status` values; the migration's CHECK constraint holds the same set. */
export const INVOICE_STATUSES = Object.freeze([
  "open",
  "paid",
  "void",
] as const);

/** One of {@link INVOICE_STATUSES}. */
export type InvoiceStatus = (typeof INVOICE_STATUSES)[number];

/** An invoice as clients see it. bigint values are decimal strings. */
export interface Invoice {
  id: string;
  orgId: number;
  /** Per-org invoice number: 1, 2, 3, ... without gaps. */
  number: number;
  customer: string;
  /** Integer minor units (cents), as a decimal string. */
  amountCents: string;
  /** ISO 4217 code, e.g. `EUR`. */
  currency: string;
  status: string;
  /** ISO-8601 UTC with microseconds, exactly what Postgres stores. */
  issuedAt: string;
  createdAt: string;
}

/** Fields of {@link InvoiceRepository.create}, already validated by the handler. */
export interface NewInvoice {
  readonly customer: string;
  /** Decimal string (or safe integer) within 0..2^63-1. */
  readonly amountCents: string | number;
  readonly currency: string;
  readonly status: InvoiceStatus;
  /** ISO-8601 text Postgres parses as `timestamptz`, or a Date. */
  readonly issuedAt: string | Date;
}

/** Position after which a page starts: the last row of the previous page. */
export interface InvoiceKey {
  /** The row's `issuedAt` exactly as returned (microseconds). */
  readonly issuedAt: string;
  readonly id: string;
}

/** Options of {@link InvoiceRepository.list}. */
export interface InvoiceListOptions {
  /** Page size, 1..1000. */
  readonly limit: number;
  readonly status?: InvoiceStatus;
  readonly after?: InvoiceKey;
}

/** One page, newest first. `nextKey` is null on the last page. */
export interface InvoicePage {
  items: Invoice[];
  nextKey: InvoiceKey | null;
}

// Timestamps leave Postgres as ISO-8601 UTC text with all six fractional
// digits: a JS Date would drop microseconds, and a keyset cursor built from
// a truncated value would skip or repeat rows.
const iso = (col: string) =>
  `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const COLUMNS = `id::text AS id, org_id::text AS org_id, number, customer,
  amount_cents::text AS amount_cents, currency, status,
  ${iso("issued_at")} AS issued_at, ${iso("created_at")} AS created_at`;

// Statement texts are constants (the column list is shared, which template
// literals cannot do); every value travels as a $n parameter. ORDER BY names
// the qualified columns (`i.issued_at`), never the text aliases, which would
// sort "10000" before "2000" and break the keyset. Parameters in the
// INSERT's SELECT list carry casts: bare, Postgres would type them as text.
const SQL = Object.freeze({
  // max(number) + 1 must see every create committed before the lock was
  // granted: a fresh snapshot per statement, whatever the server's default.
  readCommitted: `SET TRANSACTION ISOLATION LEVEL READ COMMITTED`,
  lockTimeout: `SELECT set_config('lock_timeout', $1::text, true)`,
  nextNumberLock: `SELECT pg_advisory_xact_lock(hashtextextended('invoices.number:' || $1::text, 0))`,
  create: `INSERT INTO invoices (org_id, number, customer, amount_cents, currency, status, issued_at)
    SELECT $1::bigint, coalesce(max(number), 0) + 1, $2::text, $3::bigint, $4::text, $5::text, $6::timestamptz
    FROM invoices WHERE org_id = $1::bigint
    RETURNING ${COLUMNS}`,
  get: `SELECT ${COLUMNS} FROM invoices i WHERE org_id = $1 AND id = $2::bigint`,
  list: `SELECT ${COLUMNS} FROM invoices i
    WHERE org_id = $1
      AND ($2::text IS NULL OR status = $2::text)
      AND ($3::timestamptz IS NULL OR (i.issued_at, i.id) < ($3::timestamptz, $4::bigint))
    ORDER BY i.issued_at DESC, i.id DESC
    LIMIT $5`,
});

/**
 * Invoices of an org. Every statement is scoped by `org_id`; reads go
 * through `getReadConnection({ orgId })` (a replica when one may serve, per
 * the request's consistency), writes through a transaction on the org's
 * primary.
 */
export class InvoiceRepository extends BaseRepository {
  private readonly lockTimeout: string;

  /**
   * @param options.numberLockTimeoutMs longest a create waits for its org's
   *   number lock (default 2 s). Waiting creates hold a primary connection,
   *   so a burst for one org must not hold them all.
   */
  constructor(
    router: DatabaseRouter,
    options: { numberLockTimeoutMs?: number } = {},
  ) {
    super(router);
    this.lockTimeout = `${options.numberLockTimeoutMs ?? 2_000}ms`;
  }

  /**
   * Inserts an invoice with the org's next number and returns it as stored.
   * One READ COMMITTED transaction on the org's primary: a per-org advisory
   * lock serialises concurrent creates, so `max(number) + 1` is never taken
   * twice, and a failed insert rolls back without using a number up.
   *
   * @throws {ConnectionCapExceededError} (429) when the org's lock is not
   *   granted within the lock timeout: creates for it arrive faster than
   *   they commit.
   */
  async create(orgId: number, invoice: NewInvoice): Promise<Invoice> {
    return this.transaction(orgId, async (tx) => {
      await tx.rawExec(SQL.readCommitted);
      await tx.rawQueryRow(SQL.lockTimeout, this.lockTimeout);
      try {
        await tx.rawExec(SQL.nextNumberLock, orgId);
      } catch (err) {
        // 55P03 lock_not_available: lock_timeout elapsed.
        if ((err as { code?: unknown }).code === "55P03")
          throw new ConnectionCapExceededError(
            `too many concurrent invoice creates for org ${orgId}; retry shortly`,
          );
        throw err;
      }
      const row = await tx.rawQueryRow(
        SQL.create,
        orgId,
        invoice.customer,
        String(invoice.amountCents),
        invoice.currency,
        invoice.status,
        invoice.issuedAt,
      );
      if (row === null) throw new Error("INSERT ... RETURNING returned no row");
      return toInvoice(row);
    });
  }

  /**
   * The invoice, or null when it does not exist or belongs to another org.
   * @param consistency only when this read needs a level of its own; left
   *   unset, the request's `X-Consistency` / `X-Consistency-Token` decides
   *   (else the endpoint's default: DEFAULT_READ_CONSISTENCY, eventual unless set).
   */
  async get(
    orgId: number,
    id: string,
    consistency?: Consistency,
  ): Promise<Invoice | null> {
    const row = await this.getReadConnection({
      orgId,
      consistency,
    }).rawQueryRow(SQL.get, orgId, id);
    return row === null ? null : toInvoice(row);
  }

  /** One page of the org's invoices, newest first (by `issued_at`, then `id`). */
  async list(orgId: number, options: InvoiceListOptions): Promise<InvoicePage> {
    const { limit, after } = options;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new InvalidArgumentError(
        "limit",
        "must be an integer from 1 to 1000",
      );
    }
    // One extra row tells whether another page exists, without a COUNT.
    const rows = await this.getReadConnection({ orgId }).rawQueryAll(
      SQL.list,
      orgId,
      options.status ?? null,
      after?.issuedAt ?? null,
      after?.id ?? null,
      limit + 1,
    );
    const items = rows.slice(0, limit).map(toInvoice);
    const last = items[items.length - 1];
    const nextKey =
      rows.length > limit && last !== undefined
        ? { issuedAt: last.issuedAt, id: last.id }
        : null;
    return { items, nextKey };
  }
}

function toInvoice(row: Row): Invoice {
  return {
    id: String(row.id),
    orgId: Number(row.org_id),
    number: Number(row.number),
    customer: String(row.customer),
    amountCents: String(row.amount_cents),
    currency: String(row.currency),
    status: String(row.status),
    issuedAt: String(row.issued_at),
    createdAt: String(row.created_at),
  };
}

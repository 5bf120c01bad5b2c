-- Finance domain: revenues and expenses, each row owned by one org.
--
-- Applied to the primary only (replicas receive it through streaming
-- replication). Encore's migrator and backend/standalone/migrate.ts both
-- record it as version 1 in schema_migrations.
--
-- Status sets differ per kind (and the HTTP API validates the same sets):
--   revenues: pending -> received | cancelled
--   expenses: pending -> paid     | cancelled
--
-- Amounts are integer minor units (cents) in bigint; the API returns them as
-- decimal strings because JSON numbers lose precision above 2^53.

CREATE TABLE revenues (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       bigint      NOT NULL CHECK (org_id >= 0),
    amount_cents bigint      NOT NULL CHECK (amount_cents >= 0),
    currency     char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status       text        NOT NULL CHECK (status IN ('pending', 'received', 'cancelled')),
    description  text        NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    occurred_at  timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE expenses (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       bigint      NOT NULL CHECK (org_id >= 0),
    amount_cents bigint      NOT NULL CHECK (amount_cents >= 0),
    currency     char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status       text        NOT NULL CHECK (status IN ('pending', 'paid', 'cancelled')),
    description  text        NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    occurred_at  timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- One index per table serves every query FinanceRepository runs:
--   * list: `org_id = $1 AND (occurred_at, id) > ($x, $y) ORDER BY occurred_at, id`
--     is a range scan in index order (keyset pagination, no sort, no OFFSET);
--     the optional date range narrows the same scan.
--   * sum by date range and totals by org (`org_id = ANY($1)`): the INCLUDE
--     columns make them index-only scans (no heap visits once vacuumed).
--   * the optional status filter is checked on the same rows; a separate
--     (org_id, status, ...) index is not worth its write cost for a
--     three-value column.
-- get / updateStatus use the primary key (id) and re-check org_id.
CREATE INDEX revenues_org_occurred_id_idx
    ON revenues (org_id, occurred_at, id) INCLUDE (status, currency, amount_cents);

CREATE INDEX expenses_org_occurred_id_idx
    ON expenses (org_id, occurred_at, id) INCLUDE (status, currency, amount_cents);

-- Invoices domain (backend/invoices/): one row per invoice, owned by one org.
--
-- In the same database as finance, on purpose: the router's replicas are
-- streaming replicas of THIS database (the `primary` SQLDatabase in
-- backend/database/databases.ts), so a table in a database of its own would
-- have no replicas to read from. Applied to the primary only; replicas
-- receive it through replication. Encore's migrator and
-- backend/standalone/migrate.ts both record it as version 2.
--
-- `number` is gapless per org (1, 2, 3, ...), as invoice numbering rules
-- usually require; InvoiceRepository.create assigns it in a transaction.
-- Amounts are integer minor units (cents) in bigint, returned as decimal
-- strings (JSON numbers lose precision above 2^53).

CREATE TABLE invoices (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       bigint      NOT NULL CHECK (org_id >= 0),
    number       integer     NOT NULL CHECK (number > 0),
    customer     text        NOT NULL CHECK (length(customer) BETWEEN 1 AND 200),
    amount_cents bigint      NOT NULL CHECK (amount_cents >= 0),
    currency     char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status       text        NOT NULL CHECK (status IN ('open', 'paid', 'void')),
    issued_at    timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Also the index that makes `max(number) WHERE org_id = $1` one index probe.
    CONSTRAINT invoices_org_number_key UNIQUE (org_id, number)
);

-- The list query: `org_id = $1 AND (issued_at, id) < ($x, $y)
-- ORDER BY issued_at DESC, id DESC` is a backward range scan of this index
-- (keyset pagination, no sort, no OFFSET). get uses the primary key and
-- re-checks org_id.
CREATE INDEX invoices_org_issued_id_idx ON invoices (org_id, issued_at, id);

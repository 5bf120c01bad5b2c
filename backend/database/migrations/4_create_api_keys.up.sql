-- API keys of the domain endpoints (backend/shared/auth/key_store.ts).
-- Only a SHA-256 digest of each key's secret is kept: the key itself is
-- shown once, when it is issued, and cannot be read back from here, from a
-- replica, a WAL archive or a backup.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    secret_hash BYTEA NOT NULL,
    user_id     TEXT NOT NULL,
    -- The orgs the key may read and write; NULL = every org (service accounts).
    org_ids     BIGINT[],
    label       TEXT NOT NULL DEFAULT '',
    created_by  TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at  TIMESTAMPTZ
);

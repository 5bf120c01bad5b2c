-- Fleet control plane (backend/database/fleet/; docs/architecture.md,
-- "Fleet control"): the admin changes every instance of the service
-- follows, their audit trail, and each instance's heartbeat.
--
-- On the main cluster's primary, like every other table: it is the one
-- strongly consistent store every instance already reaches. Rows are keyed by
-- `fleet` (FLEET_NAME), so two fleets sharing a primary (or the test suites
-- sharing one cluster) never see each other's changes.

-- One row per fleet: the version of its control state, bumped by every change.
-- A change locks this row (UPDATE ... RETURNING), so changes from several
-- instances serialise and each gets its own version.
CREATE TABLE router_control_version (
    fleet   text   PRIMARY KEY,
    version bigint NOT NULL CHECK (version >= 0)
);

-- The current state, one row per setting (`reads`, `reads:<endpoint>`,
-- `cache`, `cache:<endpoint>`, `circuit:<cluster>:<replica>`,
-- `replica:<cluster>:<replica>`). `connection_string` holds the URL of a
-- replica added at run time, so instances that start later can open it; it
-- is read only to connect and is never returned by any endpoint or logged.
-- Whoever can read this table can read that URL: grant it as you grant the
-- application's own tables.
CREATE TABLE router_control_state (
    fleet             text        NOT NULL,
    key               text        NOT NULL CHECK (length(key) BETWEEN 1 AND 300),
    value             jsonb       NOT NULL,
    connection_string text,
    version           bigint      NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (fleet, key)
);

-- One row per change, written in the change's transaction. Never a secret:
-- replicas appear as host:port/database only.
CREATE TABLE router_control_audit (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fleet       text        NOT NULL,
    version     bigint      NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    instance_id text        NOT NULL,
    actor       text,
    action      text        NOT NULL,
    target      text        NOT NULL,
    detail      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX router_control_audit_fleet_id ON router_control_audit (fleet, id DESC);

-- Heartbeats: each instance's own view of the replicas, rewritten every few
-- seconds. UNLOGGED on purpose: heartbeats are worthless after a crash, and
-- rows of an unlogged table are not written to WAL (only each transaction's
-- small commit record is), so heartbeats add next to no replication traffic.
-- Replicas hold no rows of it; only the primary is read.
CREATE UNLOGGED TABLE router_instances (
    fleet           text        NOT NULL,
    instance_id     text        NOT NULL,
    service_version text        NOT NULL,
    started_at      timestamptz NOT NULL,
    heartbeat_at    timestamptz NOT NULL,
    view            jsonb       NOT NULL,
    PRIMARY KEY (fleet, instance_id)
);

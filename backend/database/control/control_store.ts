import type { PgClient, PgPool } from "../router/index";
import { keyText, type ControlKey } from "./control_state";

/** A stored row of the control state, before it is checked. */
export interface StoredRow {
  readonly key: string;
  readonly value: unknown;
  readonly version: number;
  readonly connectionString: string | null;
}

/** One change: rows to write and rows to delete, committed with one audit row. */
export interface ControlChange {
  readonly set: readonly {
    readonly key: ControlKey;
    readonly value: object;
    /** Only for an added replica; stored apart, never returned. */
    readonly connectionString?: string;
  }[];
  readonly remove?: readonly ControlKey[];
  /** Replica keys that must not be stored as present (refused with {@link NameTakenError}). */
  readonly requireAbsent?: readonly (ControlKey & { kind: "replica" })[];
  /** What happened, for the audit trail: "opened a circuit". */
  readonly action: string;
  /** What it happened to: "main:replica_2", "finance.sumRevenues". */
  readonly target: string;
  /** More facts for the audit trail; never a secret or a full connection string. */
  readonly detail: AuditDetail;
}

/** Who made a change and from where. */
export interface ChangeOrigin {
  readonly instanceId: string;
  /** The caller, where known (the X-Actor header); null otherwise. */
  readonly actor: string | null;
}

/** Facts of one change: flat, JSON-safe values. */
export type AuditDetail = Record<string, string | number | boolean | null>;

/** One row of the audit trail. */
export interface AuditEntry {
  id: number;
  version: number;
  at: string;
  instanceId: string;
  actor: string | null;
  action: string;
  target: string;
  detail: AuditDetail;
}

/** One instance's heartbeat. */
export interface Heartbeat {
  readonly instanceId: string;
  readonly serviceVersion: string;
  readonly startedAt: Date;
  /** This instance's view of its replicas and of the control state; no secrets. */
  readonly view: object;
}

/** A heartbeat as read back, with its age by the store's clock. */
export interface HeartbeatRow {
  instanceId: string;
  serviceVersion: string;
  startedAt: string;
  heartbeatAt: string;
  ageMs: number;
  view: unknown;
}

/**
 * Where a fleet's control state lives: the main cluster's primary
 * ({@link PgControlStore}) or this process ({@link MemoryControlStore},
 * FLEET_CONTROL=local). Every method may throw when the store is unreachable.
 */
export interface ControlStore {
  /** The version of the stored state; 0 before the first change. */
  version(): Promise<number>;
  /** The whole state at one version. */
  load(): Promise<{ version: number; rows: StoredRow[] }>;
  /** Writes `change` and its audit row in one transaction; resolves its version. */
  commit(change: ControlChange, origin: ChangeOrigin): Promise<number>;
  /** The newest `limit` audit rows, newest first. */
  audit(limit: number): Promise<AuditEntry[]>;
  heartbeat(beat: Heartbeat): Promise<void>;
  /** Deletes this instance's heartbeat (a clean stop). */
  leave(instanceId: string): Promise<void>;
  /** Deletes heartbeats older than `olderThanMs`. */
  prune(olderThanMs: number): Promise<void>;
  /** Heartbeats younger than `maxAgeMs`, and the stored version, read together. */
  instances(
    maxAgeMs: number,
  ): Promise<{ version: number; rows: HeartbeatRow[] }>;
  /**
   * Calls `onChange(version)` when another instance commits a change;
   * `onLost` when the subscription dies (the caller resubscribes later).
   * Resolves a function that ends the subscription.
   */
  subscribe(
    onChange: (version: number) => void,
    onLost: (err: Error) => void,
  ): Promise<() => void>;
  close(): Promise<void>;
}

/** A replica name the fleet already has (a concurrent add through another instance). */
export class NameTakenError extends Error {
  constructor(
    readonly cluster: string,
    readonly name: string,
  ) {
    super(`replica ${cluster}:${name} is already stored`);
  }
}

/** The connection failed during COMMIT: the change may or may not be stored. */
export class CommitUnconfirmedError extends Error {
  constructor(override readonly cause: unknown) {
    super("COMMIT not confirmed");
  }
}

/** The NOTIFY channel; payloads are `<fleet>:<version>`. */
export const CONTROL_CHANNEL = "router_control";

/** Upper bound of one control statement (a change waits for another instance's change at most this long). */
const STATEMENT_TIMEOUT_MS = 5_000;

/** A checked-out client that can LISTEN (a `pg.Client`). */
type ListeningClient = PgClient & {
  on(
    event: "notification",
    listener: (msg: { channel: string; payload?: string }) => void,
  ): unknown;
  on(event: "error" | "end", listener: (err?: Error) => void): unknown;
};

/** The control state in the primary's tables (migration 3). */
export class PgControlStore implements ControlStore {
  constructor(
    private readonly pool: PgPool,
    private readonly fleet: string,
  ) {}

  async version(): Promise<number> {
    const { rows } = await this.pool.query(
      "SELECT version FROM router_control_version WHERE fleet = $1",
      [this.fleet],
    );
    return rows.length === 0 ? 0 : Number(rows[0]!.version);
  }

  async load(): Promise<{ version: number; rows: StoredRow[] }> {
    // One statement, so the version and the rows are of one snapshot.
    const { rows } = await this.pool.query(
      `SELECT v.version AS fleet_version, s.key, s.value, s.version, s.connection_string
         FROM (SELECT coalesce(max(version), 0) AS version
                 FROM router_control_version WHERE fleet = $1) v
         LEFT JOIN router_control_state s ON s.fleet = $1
        ORDER BY s.version`,
      [this.fleet],
    );
    return {
      version: rows.length === 0 ? 0 : Number(rows[0]!.fleet_version),
      rows: rows
        .filter((r) => r.key !== null)
        .map((r) => ({
          key: r.key as string,
          value: r.value,
          version: Number(r.version),
          connectionString: (r.connection_string as string | null) ?? null,
        })),
    };
  }

  async commit(change: ControlChange, origin: ChangeOrigin): Promise<number> {
    const client = await this.pool.connect();
    const onError = () => {};
    client.on?.("error", onError);
    let broken = false;
    try {
      await client.query("BEGIN");
      await client.query(
        `SET LOCAL statement_timeout = ${STATEMENT_TIMEOUT_MS}; SET LOCAL lock_timeout = ${STATEMENT_TIMEOUT_MS}`,
      );
      // Locks the fleet's version row until COMMIT: changes serialise.
      const { rows } = await client.query(
        `INSERT INTO router_control_version (fleet, version) VALUES ($1, 1)
         ON CONFLICT (fleet) DO UPDATE SET version = router_control_version.version + 1
         RETURNING version`,
        [this.fleet],
      );
      const version = Number(rows[0]!.version);
      // Serialised by the version row's lock: no other change runs between check and write.
      for (const k of change.requireAbsent ?? []) {
        const found = await client.query(
          "SELECT value FROM router_control_state WHERE fleet = $1 AND key = $2",
          [this.fleet, keyText(k)],
        );
        const value = found.rows[0]?.value as { present?: unknown } | undefined;
        if (value?.present === true)
          throw new NameTakenError(k.cluster, k.name);
      }
      for (const s of change.set) {
        await client.query(
          `INSERT INTO router_control_state (fleet, key, value, connection_string, version)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (fleet, key) DO UPDATE
             SET value = EXCLUDED.value, connection_string = EXCLUDED.connection_string,
                 version = EXCLUDED.version, updated_at = now()`,
          [
            this.fleet,
            keyText(s.key),
            JSON.stringify(s.value),
            s.connectionString ?? null,
            version,
          ],
        );
      }
      for (const k of change.remove ?? []) {
        await client.query(
          "DELETE FROM router_control_state WHERE fleet = $1 AND key = $2",
          [this.fleet, keyText(k)],
        );
      }
      await client.query(
        `INSERT INTO router_control_audit (fleet, version, instance_id, actor, action, target, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          this.fleet,
          version,
          origin.instanceId,
          origin.actor,
          change.action,
          change.target,
          JSON.stringify(change.detail),
        ],
      );
      // Delivered to listeners when (and only if) the transaction commits.
      await client.query("SELECT pg_notify($1, $2)", [
        CONTROL_CHANNEL,
        `${this.fleet}:${version}`,
      ]);
      try {
        await client.query("COMMIT");
      } catch (err) {
        broken = true;
        throw new CommitUnconfirmedError(err);
      }
      return version;
    } catch (err) {
      if (err instanceof CommitUnconfirmedError) throw err;
      broken = !(err instanceof NameTakenError);
      await client.query("ROLLBACK").catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      client.off?.("error", onError);
      client.release(broken);
    }
  }

  async audit(limit: number): Promise<AuditEntry[]> {
    const { rows } = await this.pool.query(
      `SELECT id, version, at, instance_id, actor, action, target, detail
         FROM router_control_audit WHERE fleet = $1 ORDER BY id DESC LIMIT $2`,
      [this.fleet, limit],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      version: Number(r.version),
      at: (r.at as Date).toISOString(),
      instanceId: r.instance_id as string,
      actor: (r.actor as string | null) ?? null,
      action: r.action as string,
      target: r.target as string,
      detail: r.detail as AuditDetail,
    }));
  }

  async heartbeat(beat: Heartbeat): Promise<void> {
    await this.pool.query(
      `INSERT INTO router_instances (fleet, instance_id, service_version, started_at, heartbeat_at, view)
       VALUES ($1, $2, $3, $4, now(), $5)
       ON CONFLICT (fleet, instance_id) DO UPDATE
         SET service_version = EXCLUDED.service_version, started_at = EXCLUDED.started_at,
             heartbeat_at = now(), view = EXCLUDED.view`,
      [
        this.fleet,
        beat.instanceId,
        beat.serviceVersion,
        beat.startedAt,
        JSON.stringify(beat.view),
      ],
    );
  }

  async leave(instanceId: string): Promise<void> {
    await this.pool.query(
      "DELETE FROM router_instances WHERE fleet = $1 AND instance_id = $2",
      [this.fleet, instanceId],
    );
  }

  async prune(olderThanMs: number): Promise<void> {
    await this.pool.query(
      `DELETE FROM router_instances
        WHERE fleet = $1 AND heartbeat_at < now() - make_interval(secs => $2)`,
      [this.fleet, olderThanMs / 1000],
    );
  }

  async instances(
    maxAgeMs: number,
  ): Promise<{ version: number; rows: HeartbeatRow[] }> {
    // One statement: one connection, one snapshot. Ages by the database's
    // clock, since instances' clocks may disagree.
    const { rows } = await this.pool.query(
      `SELECT v.version AS fleet_version, i.instance_id, i.service_version,
              i.started_at, i.heartbeat_at, i.view,
              (extract(epoch FROM now() - i.heartbeat_at) * 1000)::float8 AS age_ms
         FROM (SELECT coalesce(max(version), 0) AS version
                 FROM router_control_version WHERE fleet = $1) v
         LEFT JOIN router_instances i
           ON i.fleet = $1 AND i.heartbeat_at > now() - make_interval(secs => $2)
        ORDER BY i.instance_id`,
      [this.fleet, maxAgeMs / 1000],
    );
    return {
      version: rows.length === 0 ? 0 : Number(rows[0]!.fleet_version),
      rows: rows
        .filter((r) => r.instance_id !== null)
        .map((r) => ({
          instanceId: r.instance_id as string,
          serviceVersion: r.service_version as string,
          startedAt: (r.started_at as Date).toISOString(),
          heartbeatAt: (r.heartbeat_at as Date).toISOString(),
          ageMs: Math.max(0, Math.round(Number(r.age_ms))),
          view: r.view,
        })),
    };
  }

  async subscribe(
    onChange: (version: number) => void,
    onLost: (err: Error) => void,
  ): Promise<() => void> {
    const client = (await this.pool.connect()) as ListeningClient;
    let ended = false;
    const lost = (err?: Error) => {
      if (ended) return;
      ended = true;
      client.release(true);
      onLost(err ?? new Error("the LISTEN connection ended"));
    };
    client.on("error", lost);
    client.on("end", lost);
    client.on("notification", (msg) => {
      if (msg.channel !== CONTROL_CHANNEL || msg.payload === undefined) return;
      const at = msg.payload.lastIndexOf(":");
      if (msg.payload.slice(0, at) !== this.fleet) return;
      const version = Number(msg.payload.slice(at + 1));
      if (Number.isSafeInteger(version)) onChange(version);
    });
    try {
      await client.query(`LISTEN ${CONTROL_CHANNEL}`);
    } catch (err) {
      lost(err as Error);
      throw err;
    }
    return () => {
      if (ended) return;
      ended = true;
      client.release(true);
    };
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

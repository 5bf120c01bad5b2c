import type {
  PgClient,
  PgPool,
} from "../../../backend/database/router/nodes/pg_pool";

/**
 * A `pg` pool stand-in for unit tests: answers the router's own probes
 * (health, lag sample, replay position, WAL position, catalog) like a
 * healthy node, and runs `behaviour` for every other statement.
 */
export class FakePool implements PgPool {
  totalCount = 0;
  idleCount = 0;
  waitingCount = 0;
  /** Statements other than the router's probes, in order. */
  readonly calls: string[] = [];
  /** Refuse every connection (a node that is down), with {@link downError}. */
  down = false;
  /** What a down node throws: connection refused, unless a test sets another. */
  downError: Error = Object.assign(
    new Error("connect ECONNREFUSED 127.0.0.1:1"),
    { code: "ECONNREFUSED" },
  );
  /** Rows (or a throw) for every statement that is not a probe. */
  behaviour: (sql: string) => Record<string, unknown>[] = () => [{ ok: 1 }];
  /** What a replica reports as replayed (lag sample, read-your-writes waits). */
  replayLsn = "0/100";
  replayAgeMs = 5;
  /** What the primary reports as its WAL position. */
  primaryLsn = "0/100";

  constructor(
    readonly replica: boolean,
    readonly sysid = "7",
  ) {}

  async query(text: string): Promise<{ rows: Record<string, unknown>[] }> {
    if (this.down) throw this.downError;
    // The lag sample also calls pg_is_in_recovery(): match it first.
    if (text.includes("AS replay_lsn"))
      return {
        rows: [
          {
            in_recovery: true,
            receive_lsn: this.replayLsn,
            replay_lsn: this.replayLsn,
            replay_age_ms: this.replayAgeMs,
            receiver_status: "streaming",
          },
        ],
      };
    if (text.includes("pg_is_in_recovery()"))
      return {
        rows: [{ in_recovery: this.replica, system_identifier: this.sysid }],
      };
    if (text.includes("pg_last_wal_replay_lsn()"))
      return { rows: [{ lsn: this.replayLsn }] };
    if (
      text.includes("pg_current_wal_lsn()") ||
      text.includes("pg_current_wal_insert_lsn()")
    )
      return { rows: [{ lsn: this.primaryLsn }] };
    if (text.includes("pg_proc")) return { rows: [] };
    this.calls.push(text);
    return { rows: this.behaviour(text) };
  }

  async connect(): Promise<PgClient> {
    if (this.down) throw this.downError;
    return {
      query: (text: string) => this.query(text),
      release: () => undefined,
      processID: 1,
    };
  }

  on(): this {
    return this;
  }

  async end(): Promise<void> {}
}

/**
 * Built-in functions a hot standby refuses to run, so a call to any of them
 * must go to the primary. Keyed by the lower-case function name; the value
 * is the refusal a PostgreSQL 15 standby answers with (SQLSTATE and errmsg),
 * which `classifyPgError` also recognises, so a call the gate could not see
 * (inside a view, a user function) is still retried on the primary.
 *
 * How the list was derived, from PostgreSQL itself rather than by guessing:
 * 1. Every refusal message a server can raise in recovery, from the string
 *    table of the installed server and contrib libraries (`strings
 *    bin/postgres lib/*.so | grep -i recovery`) and the libraries that import
 *    `RecoveryInProgress` (`nm -D`): amcheck, pg_surgery, pg_walinspect.
 * 2. For each message, the SQL-callable C functions in PostgreSQL's source
 *    (REL_15..17) that raise it behind `if (RecoveryInProgress())`:
 *    xlogfuncs.c (WAL control functions), brin.c, ginfast.c, xid8funcs.c
 *    and async.c (`PreventCommandDuringRecovery`), sequence.c (read-only
 *    transaction), origin.c, logicalfuncs.c and varsup.c (no WAL, xid or OID
 *    during recovery), lock.c (nothing above RowExclusiveLock on relations:
 *    collationcmds.c, contrib/pg_visibility, contrib/amcheck), large objects,
 *    contrib/pg_surgery.
 * 3. Each one called on a real streaming standby: the integration test
 *    `test/integration/standby_refusals.test.ts` calls every entry that
 *    exists on the test server and checks the standby refuses it with this
 *    SQLSTATE and message, and that the router sends it to the primary.
 *
 * Left out on purpose: functions that refuse only because of settings the
 * primary shares (logical decoding functions when `wal_level` is below
 * `logical`; commit timestamps when `track_commit_timestamp` is off) and
 * functions a standby runs but which act on its own state (advisory locks,
 * physical slots, `pg_export_snapshot`, ...): those are in
 * `primary_only_functions.ts` for that reason.
 */

/** What a standby answers when asked to run a recovery-refusing function. */
export interface RecoveryRefusal {
  /** SQLSTATE of the refusal. */
  readonly sqlstate: "25006" | "55000" | "0A000" | "XX000";
  /** The start of the refusal's errmsg. */
  readonly message: string;
}

const RECOVERY: RecoveryRefusal = {
  sqlstate: "55000",
  message: "recovery is in progress",
};
const LOCK: RecoveryRefusal = {
  sqlstate: "55000",
  message: "cannot acquire lock mode",
};
const NO_OIDS: RecoveryRefusal = {
  sqlstate: "XX000",
  message: "cannot assign OIDs during recovery",
};
const ORIGINS: RecoveryRefusal = {
  sqlstate: "25006",
  message: "cannot manipulate replication origins during recovery",
};

/** Built-ins (lower-case names) that a hot standby refuses; see the file comment. */
export const RECOVERY_REFUSING_FUNCTIONS: ReadonlyMap<string, RecoveryRefusal> =
  new Map<string, RecoveryRefusal>([
    // xlogfuncs.c: "WAL control functions cannot be executed during recovery."
    ["pg_switch_wal", RECOVERY],
    ["pg_create_restore_point", RECOVERY],
    ["pg_current_wal_lsn", RECOVERY],
    ["pg_current_wal_insert_lsn", RECOVERY],
    ["pg_current_wal_flush_lsn", RECOVERY],
    ["pg_walfile_name", RECOVERY],
    ["pg_walfile_name_offset", RECOVERY],
    ["pg_log_standby_snapshot", RECOVERY], // PostgreSQL 16+
    // The same functions under their names before PostgreSQL 10.
    ["pg_switch_xlog", RECOVERY],
    ["pg_current_xlog_location", RECOVERY],
    ["pg_current_xlog_insert_location", RECOVERY],
    ["pg_current_xlog_flush_location", RECOVERY],
    ["pg_xlogfile_name", RECOVERY],
    ["pg_xlogfile_name_offset", RECOVERY],
    // brin.c: "BRIN control functions cannot be executed during recovery."
    ["brin_summarize_range", RECOVERY],
    ["brin_summarize_new_values", RECOVERY],
    ["brin_desummarize_range", RECOVERY],
    // ginfast.c: "GIN pending list cannot be cleaned up during recovery."
    ["gin_clean_pending_list", RECOVERY],
    // contrib/pg_surgery: "heap surgery functions cannot be executed during recovery."
    ["heap_force_kill", RECOVERY],
    ["heap_force_freeze", RECOVERY],
    // lock.c: only RowExclusiveLock or less on relations during recovery.
    ["pg_import_system_collations", LOCK],
    ["pg_truncate_visibility_map", LOCK], // contrib/pg_visibility
    ["bt_index_parent_check", LOCK], // contrib/amcheck (ShareLock)
    // PreventCommandDuringRecovery / read-only transaction.
    [
      "txid_current",
      {
        sqlstate: "25006",
        message: "cannot execute pg_current_xact_id() during recovery",
      },
    ],
    [
      "pg_current_xact_id",
      {
        sqlstate: "25006",
        message: "cannot execute pg_current_xact_id() during recovery",
      },
    ],
    [
      "pg_notify",
      { sqlstate: "25006", message: "cannot execute NOTIFY during recovery" },
    ],
    [
      "nextval",
      {
        sqlstate: "25006",
        message: "cannot execute nextval() in a read-only transaction",
      },
    ],
    [
      "setval",
      {
        sqlstate: "25006",
        message: "cannot execute setval() in a read-only transaction",
      },
    ],
    // origin.c: replorigin_check_prerequisites(..., recoveryOK = false).
    ["pg_replication_origin_create", ORIGINS],
    ["pg_replication_origin_drop", ORIGINS],
    ["pg_replication_origin_advance", ORIGINS],
    ["pg_replication_origin_session_setup", ORIGINS],
    ["pg_replication_origin_session_reset", ORIGINS],
    ["pg_replication_origin_xact_setup", ORIGINS],
    ["pg_replication_origin_xact_reset", ORIGINS],
    // logicalfuncs.c: a transactional message needs an xid, a plain one WAL.
    [
      "pg_logical_emit_message",
      {
        sqlstate: "XX000",
        message: "cannot assign TransactionIds during recovery",
      },
    ],
    // Large objects: a new one needs an OID; unlinking takes AccessExclusiveLock.
    ["lo_creat", NO_OIDS],
    ["lo_create", NO_OIDS],
    ["lo_from_bytea", NO_OIDS],
    ["lo_import", NO_OIDS],
    ["lo_unlink", LOCK],
  ]);

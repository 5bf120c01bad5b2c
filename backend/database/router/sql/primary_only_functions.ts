import { RECOVERY_REFUSING_FUNCTIONS } from "./recovery_refusing_functions";

// Built-ins a standby would run, but whose effect or answer belongs to the
// node and session they run on: session settings, backend pids, files,
// large-object descriptors, replication control, snapshots to share.
// currval/lastval read the session's own sequence state, which exists only
// on the primary connection that called nextval. Families are matched by
// prefix in mustRunOnPrimary.
const NODE_LOCAL_FUNCTIONS: ReadonlySet<string> = new Set([
  "currval",
  "lastval",
  "set_config",
  "setseed",
  "loread",
  "lowrite",
  "pg_terminate_backend",
  "pg_cancel_backend",
  "pg_reload_conf",
  "pg_rotate_logfile",
  "pg_promote",
  "pg_backup_start",
  "pg_backup_stop",
  "pg_start_backup",
  "pg_stop_backup",
  "pg_log_backend_memory_contexts",
  "pg_replication_slot_advance",
  "pg_drop_replication_slot",
  "pg_export_snapshot",
]);

/**
 * True for a built-in (bare, lower-case name) that must run on the primary:
 * a standby refuses it (RECOVERY_REFUSING_FUNCTIONS), or it writes, locks,
 * or acts on state that exists only on the node and session it runs on.
 * User functions of the same name count too, which can only send more to
 * the primary.
 */
export function mustRunOnPrimary(name: string): boolean {
  if (RECOVERY_REFUSING_FUNCTIONS.has(name) || NODE_LOCAL_FUNCTIONS.has(name))
    return true;
  if (name.startsWith("lo_")) return name !== "lo_get"; // lo_get reads a whole object; the rest write or need a descriptor
  if (name.startsWith("dblink")) return true; // dblink_exec writes elsewhere; the rest keep per-node connections
  if (!name.startsWith("pg_")) return false;
  return (
    name.includes("advisory") || // pg_advisory_lock, pg_try_advisory_xact_lock_shared, pg_advisory_unlock_all...
    name.startsWith("pg_stat_reset") ||
    name.startsWith("pg_stat_statements_reset") ||
    (name.startsWith("pg_create_") && name.endsWith("_replication_slot")) ||
    (name.startsWith("pg_copy_") && name.endsWith("_replication_slot")) ||
    name.startsWith("pg_replication_origin_") ||
    name.startsWith("pg_logical_slot_") ||
    name.startsWith("pg_wal_replay_") || // pausing replay on a replica would be a disaster
    name.startsWith("pg_xlog_replay_") ||
    name.startsWith("pg_file_") // adminpack
  );
}

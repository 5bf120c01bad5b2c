import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

/**
 * The migrations of the main database, beside the `SQLDatabase("primary")`
 * that declares them in backend/database/databases.ts: Encore's parser takes
 * only a local relative path without ".." (`tsparser/litparser/src/lib.rs`,
 * `LocalRelPath`), so this is the one copy both front doors apply.
 */
export const MIGRATIONS_DIR = fileURLToPath(
  new URL("../database/migrations", import.meta.url),
);

/**
 * Encore's migration file names (`tsparser/src/parser/resources/infra/sqldb.rs`,
 * `parse_default`): `<number>_<description>.up.sql`; `.down.sql` files are
 * ignored, and any other `.sql` name is an error rather than silently skipped.
 */
const FILE_RE = /^(\d+)_([^.]+)\.(up|down)\.sql$/;

/**
 * Session-level advisory lock taken for the whole run, so concurrent runners
 * (several test files, several instances starting at once) apply each
 * migration once. Advisory lock keys are scoped to the current database, so a
 * fixed key does not serialise unrelated databases. An arbitrary constant
 * ("rrmigrat" in ASCII); never change it, or old and new runners stop
 * excluding each other.
 */
export const MIGRATION_LOCK_KEY = "8246774167143342452";

/** One `N_name.up.sql` file. */
export interface MigrationFile {
  readonly version: number;
  readonly name: string;
  readonly path: string;
}

/** Result of {@link runMigrations}. */
export interface MigrationResult {
  /** Versions applied by this run, in order; empty when already up to date. */
  readonly applied: number[];
}

/**
 * Applies the pending `N_name.up.sql` files in `dir` to the primary at
 * `primaryUrl`, in numeric order, each in its own transaction.
 *
 * Bookkeeping is the one Encore uses, so a database migrated by `encore run`
 * and one migrated by this runner are interchangeable. Encore runs
 * golang-migrate's postgres driver (`cli/daemon/sqldb/db.go`, `RunMigration`;
 * non-sequential mode is only for Prisma sources), which keeps
 * `schema_migrations(version bigint not null primary key, dirty boolean not null)`
 * in the current schema with exactly ONE row: the latest applied version
 * (`SetVersion` = `TRUNCATE` + `INSERT`). Here the migration's statements and
 * the version update commit together, so this runner never leaves a dirty row
 * behind; a failed migration rolls back and the version stays where it was.
 *
 * Idempotent: a second run applies nothing. Concurrent runs serialise on
 * {@link MIGRATION_LOCK_KEY}. Not excluded: golang-migrate/Encore running at
 * the same moment against the same database (it uses a lock key of its own).
 *
 * Statements that cannot run inside a transaction block (such as
 * `CREATE INDEX CONCURRENTLY`) are not supported, as under Encore.
 *
 * @param primaryUrl connection string of the primary (never a replica).
 * @param dir directory holding the migration files.
 * @param log receives one line per step; default: silent.
 * @throws {Error} when the server is a replica (in recovery), when a `.sql`
 *   file name is invalid or a version repeats, when `schema_migrations` is
 *   dirty or holds more than one row, when the recorded version has no file,
 *   or when a migration fails (its message names the file).
 */
export async function runMigrations(
  primaryUrl: string,
  dir: string,
  log: (msg: string) => void = () => {},
): Promise<MigrationResult> {
  const files = await listMigrations(dir);
  const client = new pg.Client({
    connectionString: primaryUrl,
    application_name: "replica-router-migrate",
    connectionTimeoutMillis: 30_000,
  });
  // A connection dropped while idle would otherwise surface as an unhandled 'error'.
  client.on("error", (err) => log(`migrate: connection error: ${err.message}`));
  await client.connect();
  try {
    const where = await client.query<{
      in_recovery: boolean;
      schema: string | null;
    }>("SELECT pg_is_in_recovery() AS in_recovery, current_schema() AS schema");
    const info = where.rows[0];
    if (info?.in_recovery) {
      throw new Error(
        "migrate: the server is a replica (in recovery); migrations run on the primary only",
      );
    }
    if (!info?.schema)
      throw new Error("migrate: no current schema (check search_path)");
    const table = `${quoteIdent(info.schema)}.schema_migrations`;

    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    try {
      await ensureVersionTable(client, info.schema, table);
      const current = await readVersion(client, table);
      if (current !== null && !files.some((f) => f.version === current)) {
        throw new Error(
          `migrate: the database is at version ${current} but ${dir} has no ${current}_*.up.sql; ` +
            "refusing to guess which migrations are applied",
        );
      }
      const pending = files.filter(
        (f) => current === null || f.version > current,
      );
      if (pending.length === 0)
        log(`migrate: up to date at version ${current ?? "none"}`);
      const applied: number[] = [];
      for (const file of pending) {
        log(`migrate: applying ${file.name}`);
        await applyOne(client, table, file);
        applied.push(file.version);
      }
      return { applied };
    } finally {
      await client
        .query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY])
        .catch(() => {});
    }
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * The up-migrations in `dir`, sorted by version.
 * @throws {Error} on an invalid `.sql` file name or a repeated version.
 */
export async function listMigrations(dir: string): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: MigrationFile[] = [];
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith(".sql")) continue;
    const m = FILE_RE.exec(entry.name);
    if (!m)
      throw new Error(
        `migrate: invalid migration file name ${entry.name} (expected N_name.up.sql)`,
      );
    if (m[3] !== "up") continue;
    const version = Number(m[1]);
    if (!Number.isSafeInteger(version))
      throw new Error(`migrate: version of ${entry.name} is too large`);
    files.push({ version, name: entry.name, path: join(dir, entry.name) });
  }
  files.sort((a, b) => a.version - b.version);
  files.forEach((f, i) => {
    const prev = files[i - 1];
    if (prev !== undefined && prev.version === f.version) {
      throw new Error(
        `migrate: ${prev.name} and ${f.name} have the same version ${f.version}`,
      );
    }
  });
  return files;
}

/** Creates the version table as golang-migrate does, if it is missing. */
async function ensureVersionTable(
  client: pg.Client,
  schema: string,
  table: string,
): Promise<void> {
  // Checked first, like golang-migrate, so a role without CREATE can still run
  // against an already-initialised database.
  const found = await client.query(
    "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'schema_migrations'",
    [schema],
  );
  if (found.rows.length === 0) {
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${table} (version bigint not null primary key, dirty boolean not null)`,
    );
  }
}

/**
 * The applied version, or null for a fresh database.
 * @throws {Error} when the row is dirty or the table has several rows.
 */
async function readVersion(
  client: pg.Client,
  table: string,
): Promise<number | null> {
  const { rows } = await client.query<{ version: string; dirty: boolean }>(
    `SELECT version::text AS version, dirty FROM ${table} ORDER BY version`,
  );
  if (rows.length > 1) {
    throw new Error(
      `migrate: schema_migrations has ${rows.length} rows; it was written by Encore's ` +
        "non-sequential (Prisma) mode, which this runner does not support",
    );
  }
  const row = rows[0];
  if (row === undefined) return null;
  if (row.dirty) {
    throw new Error(
      `migrate: schema_migrations says version ${row.version} is dirty (a migration failed part-way). ` +
        "Repair the schema by hand, then mark the last fully applied version clean: " +
        "UPDATE schema_migrations SET version = <that version>, dirty = false",
    );
  }
  return Number(row.version);
}

/** Runs one file and records its version, in one transaction. */
async function applyOne(
  client: pg.Client,
  table: string,
  file: MigrationFile,
): Promise<void> {
  const sql = await readFile(file.path, "utf8");
  await client.query("BEGIN");
  try {
    // No parameters: the simple query protocol, which accepts many statements.
    await client.query(sql);
    await client.query(`TRUNCATE ${table}`);
    await client.query(
      `INSERT INTO ${table} (version, dirty) VALUES ($1, false)`,
      [file.version],
    );
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(
      `migrate: ${file.name} failed and was rolled back: ${reason}`,
      { cause: err },
    );
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

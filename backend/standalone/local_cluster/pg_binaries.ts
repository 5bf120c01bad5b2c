/**
 * Finding and running the system's PostgreSQL server binaries. PostgreSQL
 * refuses to run as root, so as root every binary runs as the `postgres` OS
 * user through `runuser`.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";

let binDirCache: string | undefined;

/**
 * The directory holding initdb/pg_ctl/pg_basebackup: `pg_config --bindir`,
 * else the newest /usr/lib/postgresql/<v>/bin.
 * @throws Error naming the package to install when neither has initdb.
 */
export function findPgBinDir(): string {
  if (binDirCache) return binDirCache;
  const candidates: string[] = [];
  try {
    candidates.push(
      execFileSync("pg_config", ["--bindir"], { encoding: "utf8" }).trim(),
    );
  } catch {
    // No pg_config on PATH (it comes with libpq-dev/postgresql); fall back to Debian's layout.
  }
  const debianRoot = "/usr/lib/postgresql";
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => path.join(debianRoot, v, "bin")));
  }
  // pg_config from libpq-dev alone points at a bindir without the server tools.
  const found = candidates.find((dir) => existsSync(path.join(dir, "initdb")));
  if (!found) {
    throw new Error(
      "PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found via `pg_config --bindir` " +
        "or /usr/lib/postgresql/<version>/bin; install the server, e.g. `apt-get install postgresql`",
    );
  }
  binDirCache = found;
  return found;
}

/** Whether this process runs as root (then server binaries run as `postgres`). */
export const runningAsRoot = (): boolean => process.getuid?.() === 0;

let postgresIdsCache: { uid: number; gid: number } | undefined;

/**
 * The uid and gid of the `postgres` OS user (cached).
 * @throws Error when there is no such user.
 */
export function postgresIds(): { uid: number; gid: number } {
  if (postgresIdsCache) return postgresIdsCache;
  try {
    const id = (flag: string) =>
      Number(
        execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim(),
      );
    postgresIdsCache = { uid: id("-u"), gid: id("-g") };
    return postgresIdsCache;
  } catch (cause) {
    throw new Error(
      "running as root needs the 'postgres' OS user (created by the postgresql package)",
      { cause },
    );
  }
}

/** Exit code and output of one server binary run. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a server binary (as `postgres` when we are root); resolves with its exit code, never rejects on one.
 * @throws Error when the binary cannot be run or exceeds `timeoutMs` (default 120 s).
 */
export function runPg(
  bin: string,
  args: string[],
  timeoutMs = 120_000,
): Promise<RunResult> {
  const exe = path.join(findPgBinDir(), bin);
  const [file, argv]: [string, string[]] = runningAsRoot()
    ? ["runuser", ["-u", "postgres", "--", exe, ...args]]
    : [exe, args];
  // PG* variables (PGPORT, PGDATA, PGOPTIONS...) from the caller's shell must not steer our servers.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith("PG")),
  );
  return new Promise((resolve, reject) => {
    // cwd "/": the postgres user may not be allowed into the caller's cwd (e.g. /root).
    execFile(
      file,
      argv,
      { cwd: "/", env, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== "number") {
          const why = err.killed
            ? `timed out after ${timeoutMs} ms`
            : err.message;
          reject(
            new Error(`local cluster: ${bin} ${args[0] ?? ""}: ${why}`, {
              cause: err,
            }),
          );
          return;
        }
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
  });
}

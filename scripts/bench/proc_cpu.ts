/**
 * CPU time consumed by one PostgreSQL server of the local cluster, from
 * /proc (Linux only): the postmaster named in `<dataDir>/postmaster.pid`,
 * every live child of it (backends, walsenders, checkpointer, ...), and the
 * children it has already reaped (its cutime/cstime), so a backend that
 * exits between two readings is still counted.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond =
        Number(
          execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim(),
        ) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** Fields of /proc/<pid>/stat after the `(comm)` field: [state, ppid, ..., utime at 11, stime at 12, cutime 13, cstime 14]. */
function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm may contain spaces and parentheses: split after the last ')'.
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null; // exited meanwhile
  }
}

/** The postmaster pid of a running server, from the first line of postmaster.pid. */
export function postmasterPid(dataDir: string): number {
  const pid = Number(
    readFileSync(path.join(dataDir, "postmaster.pid"), "utf8").split("\n")[0],
  );
  if (!Number.isInteger(pid) || pid <= 0)
    throw new Error(`no postmaster pid in ${dataDir}`);
  return pid;
}

/** CPU seconds (user + system) used so far by the server whose postmaster is `pid`, children included. */
export function serverCpuSeconds(pid: number): number {
  const own = statFields(pid);
  if (own === null) throw new Error(`postmaster ${pid} is not running`);
  // Indexes after comm: 0 state, 1 ppid, ..., 11 utime, 12 stime, 13 cutime, 14 cstime.
  let ticks =
    Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f !== null && Number(f[1]) === pid)
      ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / clockTicks();
}

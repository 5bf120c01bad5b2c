/**
 * The standalone service in its own process for the benchmark suite, as
 * `npm start` runs it (node with tsx as a loader, no tsx CLI in between),
 * plus small helpers for what the bench reads from it: its RSS and its
 * own request-duration histogram. A copy of what the bench needs from
 * test/integration/helpers/service.ts, so the bench does not depend on tests.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";

/** A service process that has logged "listening". */
export interface BenchService {
  readonly child: ChildProcess;
  /** Its base URL, from the "listening" log line. */
  readonly url: string;
  /** SIGTERM and wait for the exit (SIGKILL after `graceMs`, default 10 s); idempotent. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL (a crash: no goodbye to the fleet) and wait for the exit. */
  kill(): Promise<void>;
}

/**
 * Variables passed on from the bench's own environment: only what a process
 * needs to run. Router settings the caller may have exported are not
 * inherited, so "defaults" are the defaults.
 */
const PASSED_ON = ["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ"];

let services = 0;
/** Services not known to have exited: killed when the bench process exits. */
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

/**
 * Spawns backend/standalone/main.ts in `repoRoot` with `env` on top of a
 * minimal environment (PORT 0, a fleet name of its own) and waits for its
 * "listening" line (at most `startTimeoutMs`, default 30 s).
 * @throws Error with the last stderr lines when it exits or does not listen; the process is killed first.
 */
export async function spawnBenchService(
  repoRoot: string,
  env: Record<string, string>,
  startTimeoutMs = 30_000,
): Promise<BenchService> {
  const base: Record<string, string> = {};
  for (const k of PASSED_ON) {
    const v = process.env[k];
    if (v !== undefined) base[k] = v;
  }
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "backend/standalone/main.ts"],
    {
      cwd: repoRoot,
      env: {
        ...base,
        PORT: "0",
        FLEET_NAME: `bench-${process.pid}-${++services}`,
        ...env,
      },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  live.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      live.delete(child);
      resolve();
    });
    child.once("error", () => {
      live.delete(child);
      resolve();
    });
  });
  const done = () => child.exitCode !== null || child.signalCode !== null;
  const stop = async (graceMs = 10_000): Promise<void> => {
    if (done()) return exited;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  // The last lines only: under load a long stderr must not grow the bench's memory.
  const tail: string[] = [];
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`no "listening" line within ${startTimeoutMs} ms`)),
        startTimeoutMs,
      );
      let buffered = "";
      child.stderr!.setEncoding("utf8");
      child.stderr!.on("data", (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          tail.push(line);
          if (tail.length > 20) tail.shift();
          try {
            const e = JSON.parse(line) as { message?: string; url?: string };
            if (e.message === "listening" && typeof e.url === "string") {
              clearTimeout(timer);
              resolve(e.url);
            }
          } catch {
            // not a JSON line
          }
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error("exited before listening"));
      });
    });
    const kill = async () => {
      if (!done()) child.kill("SIGKILL");
      await exited;
    };
    return { child, url, stop, kill };
  } catch (err) {
    child.kill("SIGKILL");
    await exited;
    throw new Error(
      `standalone service: ${(err as Error).message}; stderr:\n${tail.join("\n")}`,
    );
  }
}

/** Resident set size of process `pid` in MiB (Linux /proc); NaN when unreadable. */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(
      readFileSync(`/proc/${pid}/status`, "utf8"),
    );
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * From the service's `http_request_duration_seconds` histogram (arrival to
 * response sent): API requests answered, and how many took longer than 1 s
 * and than 2.5 s.
 */
export function serverSideTimes(metrics: string): {
  api: number;
  over1s: number;
  over2500ms: number;
} {
  let total = 0;
  let within1 = 0;
  let within25 = 0;
  for (const line of metrics.split("\n")) {
    const m =
      /^http_request_duration_seconds_bucket\{le="([^"]+)",kind="api",status="[^"]+"\} (\d+)/.exec(
        line,
      );
    if (m === null) continue;
    if (m[1] === "+Inf") total += Number(m[2]);
    if (m[1] === "1") within1 += Number(m[2]);
    if (m[1] === "2.5") within25 += Number(m[2]);
  }
  return { api: total, over1s: total - within1, over2500ms: total - within25 };
}

/**
 * The sum of every series of `name` in a Prometheus text exposition whose
 * labels include each of `labels` (e.g. `{ verdict: "suspected" }`); 0 when
 * there is none.
 */
export function metricSum(
  metrics: string,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const line of metrics.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = m[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`)))
      sum += Number(m[3]);
  }
  return sum;
}

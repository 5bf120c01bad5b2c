/**
 * Server binaries as steps of building or running a cluster node: a failed
 * step's error names the step and quotes the tail of the node's server log;
 * pg_ctl status and stop of one node.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { ClusterNode } from "./cluster_types";
import { type RunResult, runPg } from "./pg_binaries";

const LOG_TAIL_LINES = 20;

async function logTail(logFile: string): Promise<string> {
  try {
    const lines = (await readFile(logFile, "utf8")).trimEnd().split("\n");
    return lines.slice(-LOG_TAIL_LINES).join("\n");
  } catch {
    return "(no server log)";
  }
}

/** An error naming the failed step, with the tail of the node's server log when there is one. */
export async function stepError(
  step: string,
  detail: string,
  node?: ClusterNode,
): Promise<Error> {
  let message = `local cluster: ${step} failed: ${detail.trim()}`;
  if (node) {
    const logFile = path.join(node.dataDir, "server.log");
    message += `\n--- last ${LOG_TAIL_LINES} lines of ${logFile} ---\n${await logTail(logFile)}`;
  }
  return new Error(message);
}

/**
 * Runs a server binary as the named step.
 * @throws Error from {@link stepError} when it exits non-zero.
 */
export async function mustRun(
  step: string,
  bin: string,
  args: string[],
  node?: ClusterNode,
  timeoutMs?: number,
): Promise<RunResult> {
  const res = await runPg(bin, args, timeoutMs);
  if (res.code !== 0)
    throw await stepError(
      step,
      `${bin} exited ${res.code}: ${res.stderr || res.stdout}`,
      node,
    );
  return res;
}

/** What pg_ctl status says of a data directory ("missing": none there). */
export type PgCtlStatus = "running" | "stopped" | "missing";

/** pg_ctl status of the server in `dataDir`. */
export async function pgCtlStatus(dataDir: string): Promise<PgCtlStatus> {
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) return "missing";
  const { code } = await runPg("pg_ctl", ["status", "-D", dataDir]);
  // pg_ctl status: 0 running, 3 not running, 4 no accessible data directory.
  return code === 0 ? "running" : code === 3 ? "stopped" : "missing";
}

/**
 * pg_ctl stop in `mode`, falling back to immediate; no-op for a stopped or missing node.
 * @throws Error when the server still runs after an immediate stop.
 */
export async function pgCtlStop(
  node: ClusterNode,
  mode: "fast" | "immediate",
): Promise<void> {
  for (const m of mode === "fast"
    ? (["fast", "immediate"] as const)
    : (["immediate"] as const)) {
    if ((await pgCtlStatus(node.dataDir)) !== "running") return;
    const res = await runPg(
      "pg_ctl",
      ["stop", "-w", "-t", "60", "-m", m, "-D", node.dataDir],
      90_000,
    );
    if (res.code === 0) return;
  }
  if ((await pgCtlStatus(node.dataDir)) === "running") {
    throw await stepError(
      `stopping ${node.name}`,
      "pg_ctl stop -m immediate did not stop it",
      node,
    );
  }
}

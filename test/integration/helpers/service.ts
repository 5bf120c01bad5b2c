/**
 * The standalone service in its own process, as `npm start` runs it: node
 * itself with tsx as a loader. (The tsx CLI relays signals through a second
 * process and SIGKILLs the service when it does not confirm within ~60 ms,
 * which a loaded machine can miss.)
 */
import { noteSecrets, record } from "../../support/secret_scan";
import { type ChildProcess, spawn } from "node:child_process";
import { uniqueFleetName } from "./app";
import { repoRoot } from "./clusters";

/** How a service process ended. */
export interface ServiceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A service process that has logged "listening". */
export interface SpawnedService {
  readonly child: ChildProcess;
  /** Its base URL, from the "listening" log line: http://127.0.0.1:<port>. */
  readonly url: string;
  /** Every stderr line so far (JSON log lines). */
  readonly lines: string[];
  /** Everything written to stdout so far (the development key of `npm start`). */
  readonly stdout: string[];
  /** Resolves when the process has exited. */
  readonly exit: Promise<ServiceExit>;
  /**
   * Sends `signal` (default SIGTERM; to the whole process group when spawned
   * `detached`) and waits for the exit, sending SIGKILL after `graceMs`
   * (default 10 s). Idempotent; resolves at once if it has already exited.
   */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<ServiceExit>;
}

/** Options of {@link spawnService}. */
export interface SpawnServiceOptions {
  /** How long to wait for the "listening" line; default 30 s. */
  startTimeoutMs?: number;
  /** Own process group, so a signal can reach the whole group the way a terminal's Ctrl-C does; default false. */
  detached?: boolean;
}

/** Services not known to have exited: the worker's exit kills them, should a test forget. */
const live = new Set<() => void>();
process.once("exit", () => {
  for (const kill of live) kill();
});

/**
 * Spawns backend/standalone/main.ts with exactly `env` (pass `PORT: "0"` for
 * a free port) and waits for its "listening" log line. The caller stops it
 * with `stop()` in a `finally` or `afterAll`.
 * @throws Error with its stderr if it exits, or does not listen within the
 * timeout; the process is killed first.
 */
export async function spawnService(
  env: NodeJS.ProcessEnv,
  opts: SpawnServiceOptions = {},
): Promise<SpawnedService> {
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;
  noteSecrets(env);
  const detached = opts.detached ?? false;
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "backend/standalone/main.ts"],
    {
      cwd: repoRoot,
      // A fleet of its own unless the test joins instances on purpose.
      env: { FLEET_NAME: uniqueFleetName(), ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached,
    },
  );
  const send = (signal: NodeJS.Signals): void => {
    try {
      if (detached && child.pid !== undefined) process.kill(-child.pid, signal);
      else child.kill(signal);
    } catch {
      // already gone
    }
  };
  const killNow = () => send("SIGKILL");
  const lines: string[] = [];
  const stdout: string[] = [];
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => stdout.push(chunk));
  live.add(killNow);
  const exit = new Promise<ServiceExit>((resolve) => {
    child.once("exit", (code, signal) => {
      live.delete(killNow);
      resolve({ code, signal });
    });
    // Could not be spawned at all: no "exit" follows.
    child.once("error", (err) => {
      lines.push(`spawn failed: ${err.message}`);
      live.delete(killNow);
      resolve({ code: null, signal: null });
    });
  });
  const exited = () => child.exitCode !== null || child.signalCode !== null;

  const stop = async (
    signal: NodeJS.Signals = "SIGTERM",
    graceMs = 10_000,
  ): Promise<ServiceExit> => {
    if (exited()) return exit;
    send(signal);
    const timer = setTimeout(killNow, graceMs);
    try {
      return await exit;
    } finally {
      clearTimeout(timer);
    }
  };

  try {
    const url = await listeningUrl(child, lines, exit, startTimeoutMs);
    return { child, url, lines, stdout, exit, stop };
  } catch (err) {
    await stop("SIGKILL");
    throw err;
  }
}

/** Collects stderr lines into `lines`; resolves the URL of the "listening" line. */
function listeningUrl(
  child: ChildProcess,
  lines: string[],
  exit: Promise<ServiceExit>,
  timeoutMs: number,
): Promise<string> {
  let buffered = "";
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `no "listening" line within ${timeoutMs} ms; stderr:\n${lines.join("\n")}`,
          ),
        ),
      timeoutMs,
    );
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        lines.push(line);
        record("log of a spawned service", line);
        try {
          const entry = JSON.parse(line) as { message?: string; url?: string };
          if (entry.message === "listening" && typeof entry.url === "string") {
            clearTimeout(timer);
            resolve(entry.url);
          }
        } catch {
          // not a JSON line
        }
      }
    });
    void exit.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(
        new Error(
          `exited (code ${code}, signal ${signal}) before listening; stderr:\n${lines.join("\n")}`,
        ),
      );
    });
  });
}

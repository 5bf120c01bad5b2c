/**
 * A throwaway `redis-server` for the benchmark suite: loopback only, no
 * persistence, its own temporary directory, stopped at the end of the
 * scenario (and killed when the bench process exits, whatever the reason).
 * A copy of test/integration/helpers/redis.ts, so the bench does not depend
 * on tests; {@link redisServerBinary} lets a scenario skip without it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  accessSync,
  constants,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
} from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../backend/standalone/local_cluster/ports";

/** A running bench Redis. */
export interface BenchRedis {
  /** `redis://127.0.0.1:<port>` (no password). */
  readonly url: string;
  readonly port: number;
  /** SIGTERM, wait for the exit (SIGKILL after 5 s), remove its directory. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit: a crash, as clients see it. Its data is gone. */
  kill(): Promise<void>;
  /** SIGSTOP: the server keeps its connections but answers nothing (a stalled Redis). */
  pause(): void;
  /** SIGCONT after {@link pause}. */
  resume(): void;
  /** Starts the server again on the same port (after kill or stop), empty, and waits for PING. */
  restart(): Promise<void>;
}

// Directory of each server: <tmp>/rr-bench-redis-<pid of the bench process>-XXXXXX.
const DIR_PREFIX = "rr-bench-redis-";
const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let exitHookInstalled = false;

/**
 * Starts `redis-server` on a free 127.0.0.1 port and waits until it answers
 * PING (at most 10 s).
 * @throws Error when no redis-server binary is found (`apt-get install -y
 *   redis-server`) or the server does not come up.
 */
export async function startRedis(): Promise<BenchRedis> {
  const binary = redisServerBinary();
  if (binary === null)
    throw new Error(
      "redis-server not found on PATH or in /usr/bin; install the Debian package 'redis-server'",
    );
  installExitHook();
  const port = await freePort();
  removeOrphans();
  const dir = mkdtempSync(
    path.join(os.tmpdir(), `${DIR_PREFIX}${process.pid}-`),
  );
  dirs.add(dir);
  let child: ChildProcess | undefined = await launch(binary, port, dir);
  let stopped = false;

  const signalAndWait = async (
    signal: NodeJS.Signals,
    graceMs: number,
  ): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined) return;
    if (c.exitCode === null && c.signalCode === null) {
      // SIGCONT first: a paused server cannot act on SIGTERM.
      c.kill("SIGCONT");
      c.kill(signal);
      if (!(await exited(c, graceMs))) {
        c.kill("SIGKILL");
        await exited(c, 5_000);
      }
    }
    live.delete(c);
  };

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      await signalAndWait("SIGTERM", 5_000);
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
    kill: () => signalAndWait("SIGKILL", 5_000),
    pause() {
      child?.kill("SIGSTOP");
    },
    resume() {
      child?.kill("SIGCONT");
    },
    async restart() {
      if (stopped) throw new Error("bench redis: restart after stop()");
      await signalAndWait("SIGTERM", 5_000);
      child = await launch(binary, port, dir);
    },
  };
}

/** Path of an executable `redis-server` on PATH, /usr/bin or /usr/local/bin; null when there is none. */
export function redisServerBinary(): string | null {
  const candidates = [
    ...(process.env.PATH ?? "")
      .split(path.delimiter)
      .filter((d) => d !== "")
      .map((d) => path.join(d, "redis-server")),
    "/usr/bin/redis-server",
    "/usr/local/bin/redis-server",
  ];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next one
    }
  }
  return null;
}

async function launch(
  binary: string,
  port: number,
  dir: string,
): Promise<ChildProcess> {
  // prettier-ignore
  const args = [
    "--port", String(port),
    "--bind", "127.0.0.1",
    "--protected-mode", "yes",
    "--save", "",
    "--appendonly", "no",
    "--dir", dir,
    "--pidfile", path.join(dir, "redis.pid"),
    "--logfile", "",
    "--daemonize", "no",
  ];
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  // Keep the last lines for the error below; reading also keeps the pipes from filling.
  let output = "";
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const failed = new Promise<never>((_, reject) => {
    child.once("error", reject);
    child.once("exit", (code, signal) =>
      reject(
        new Error(
          `redis-server exited during start-up (${signal ?? `code ${code}`}):\n${output}`,
        ),
      ),
    );
  });
  failed.catch(() => {}); // observed below; a later exit is not an error
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (await Promise.race([ping(port), failed])) return child;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      live.delete(child);
      throw new Error(
        `redis-server on port ${port} did not answer PING within 10 s:\n${output}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Does a server on `port` answer PING with PONG (within 1 s)? */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let reply = "";
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => finish(false));
    socket.once("error", () => finish(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString();
      if (reply.includes("\r\n")) finish(reply.startsWith("+PONG"));
    });
  });
}

function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Servers of bench processes that died without their exit hook (SIGKILL,
 * an out-of-memory kill): found by their directory, killed by their pid
 * file when that pid is still a redis-server.
 */
function removeOrphans(): void {
  const tmp = os.tmpdir();
  for (const entry of readdirSync(tmp)) {
    const owner = Number(new RegExp(`^${DIR_PREFIX}(\\d+)-`).exec(entry)?.[1]);
    if (!owner || processAlive(owner)) continue;
    const dir = path.join(tmp, entry);
    try {
      const pid = Number(readFileSync(path.join(dir, "redis.pid"), "utf8"));
      if (
        pid > 0 &&
        readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("redis-server")
      )
        process.kill(pid, "SIGKILL");
    } catch {
      // no pid file, or that process is gone
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The bench process may end without its finally blocks (a crash, Ctrl-C): no server outlives it. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of live) child.kill("SIGKILL");
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

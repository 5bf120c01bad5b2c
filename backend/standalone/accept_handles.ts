import { spawn } from "node:child_process";
import net from "node:net";
import type { Logger } from "../database/router/index";

/*
 * Why a listening socket gets more than one handle here.
 *
 * libuv (1.45 and later, so Node 20) accepts at most one connection per
 * listening handle per turn of the event loop (libuv/libuv#3696, "unix:
 * don't accept() connections in a loop"). A service busy with its open
 * connections turns its loop every 20–50 ms, so new connections queue in
 * the kernel and are taken 20–50 per second: measured with 1,000 clients
 * opening connections at once, the last ones waited 1.5 s to be accepted
 * after their TCP handshake had completed, and a health probe that opens a
 * connection waits in the same queue. Node 20 has no SO_REUSEPORT option
 * (`reusePort` came in 22.12); the portable way to more accepts per turn is
 * more handles on the same socket: each is polled, and accepts, on its own.
 *
 * Node gives a process a second descriptor of a socket only by passing it
 * over IPC, so a short-lived helper process receives the raw handle and
 * sends it back, once per extra handle (`child_process` "net.Native"
 * handles: nothing listens or accepts in the helper). Each returned
 * descriptor becomes a `net.Server` whose connections go to the HTTP server
 * (`server.emit("connection", socket)`, the documented way to hand it one).
 */

/** Extra handles: 16 accepts per loop turn in all (a turn that finds one connection also makes 15 accept calls that find none, ~10 µs). */
export const EXTRA_ACCEPT_HANDLES = 15;

/** How long the helper may take before the service goes on without it (ms). */
const HELPER_TIMEOUT_MS = 5_000;

/** The helper: sends every handle it gets straight back, closes its copy, and leaves after `count`. */
const HELPER = `
let n = 0;
process.on("message", (m, h) => {
  process.send(m, h, () => {
    h.close();
    if (++n === Number(process.argv[1])) process.disconnect();
  });
});
`;

/** The raw TCP handle of a listening `net.Server` (internal to Node, stable since 0.x). */
interface WithHandle {
  _handle?: object | null;
}

/** The listen backlog of the server's socket: the kernel's usual cap (net.core.somaxconn) rather than Node's 511. */
export const LISTEN_BACKLOG = 4_096;

/**
 * Adds up to `count` listening handles on `server`'s socket, each handing its
 * connections to `server` (which must be listening, with
 * {@link LISTEN_BACKLOG}). Best effort: if the helper cannot run or answer
 * in time, the server keeps the handles it got (perhaps none) and this logs
 * why. Returns once the helper has exited, so no other process holds the
 * socket.
 * @returns the extra listeners (also given to `onListener` one by one), to
 * close with the server.
 */
export async function addAcceptHandles(
  server: net.Server,
  count: number,
  logger: Logger,
  /** Called with each listener as soon as it accepts (before the helper exits), e.g. to close it with the server. */
  onListener?: (listener: net.Server) => void,
): Promise<net.Server[]> {
  const handle = (server as WithHandle)._handle;
  if (count <= 0 || handle === null || handle === undefined) return [];
  const extra: net.Server[] = [];
  let settled = false;
  const child = spawn(process.execPath, ["-e", HELPER, String(count)], {
    stdio: ["ignore", "ignore", "ignore", "ipc"],
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once("exit", () => resolve());
    child.once("error", () => resolve());
  });
  const adopt = (returned: object) => {
    // The same options as the HTTP server's own connections.
    const listener = net.createServer(
      { noDelay: true, allowHalfOpen: true },
      (socket) => server.emit("connection", socket),
    );
    listener.on("error", (err) =>
      logger.warn("an extra accept handle failed", { error: err.message }),
    );
    // listen() on a handle listens again: keep the socket's backlog.
    listener.listen(returned as net.Server, LISTEN_BACKLOG);
    return listener;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer within ${HELPER_TIMEOUT_MS} ms`)),
        HELPER_TIMEOUT_MS,
      );
      const done = (err?: Error) => {
        clearTimeout(timer);
        if (err === undefined) resolve();
        else reject(err);
      };
      child.on("error", done);
      child.on("exit", (code) => done(new Error(`helper exited (${code})`)));
      child.on("message", (_m, returned) => {
        if (returned === undefined) return;
        if (settled) {
          // Late, after a timeout: close this descriptor, never listen on it.
          (returned as { close?: () => void }).close?.();
          return;
        }
        const listener = adopt(returned as object);
        extra.push(listener);
        onListener?.(listener);
        if (extra.length === count) done();
      });
      for (let i = 0; i < count; i++)
        child.send(i, handle as net.Server, (err) => {
          if (err) done(err);
        });
    });
  } catch (err) {
    logger.warn(
      "could not add accept handles; new connections are accepted one per loop turn",
      {
        added: extra.length,
        error: err instanceof Error ? err.message : String(err),
      },
    );
  } finally {
    settled = true;
    const running = () => child.exitCode === null && child.signalCode === null;
    // Having sent them all, it leaves on its own; otherwise it is told to.
    if (extra.length < count && running()) child.kill();
    await Promise.race([
      exited,
      new Promise((r) => setTimeout(r, HELPER_TIMEOUT_MS).unref()),
    ]);
    if (running()) {
      child.kill("SIGKILL");
      await exited;
    }
    child.removeAllListeners("message");
  }
  return extra;
}

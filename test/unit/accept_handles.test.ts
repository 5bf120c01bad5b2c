/**
 * More accept handles on the standalone server's socket: libuv accepts one
 * connection per handle per loop turn, so a busy loop takes a burst of new
 * connections in a few turns instead of one turn each. Counted in loop
 * turns, not milliseconds.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { addAcceptHandles } from "../../backend/standalone/accept_handles";
import { silentLogger } from "../../backend/database/router/support/logger";

const CONNECTIONS = 160;
const EXTRA = 15;

const open: Array<net.Server | net.Socket> = [];
afterEach(() => {
  for (const x of open.splice(0)) {
    if (x instanceof net.Socket) x.destroy();
    else x.close();
  }
});

/**
 * Opens CONNECTIONS connections to `server` while each loop turn is kept
 * busy for 5 ms (a service serving its open connections); @returns the
 * turns it took until every one was accepted.
 */
async function turnsToAccept(server: net.Server): Promise<number> {
  let accepted = 0;
  server.on("connection", (s: net.Socket) => {
    accepted++;
    open.push(s);
  });
  const { port } = server.address() as net.AddressInfo;
  for (let i = 0; i < CONNECTIONS; i++) {
    const c = net.connect(port, "127.0.0.1");
    c.on("error", () => undefined);
    open.push(c);
  }
  let turns = 0;
  while (accepted < CONNECTIONS && turns < 10 * CONNECTIONS) {
    const until = performance.now() + 5;
    while (performance.now() < until) {
      // busy
    }
    await new Promise((r) => setImmediate(r));
    turns++;
  }
  return turns;
}

async function listening(): Promise<net.Server> {
  const server = net.createServer();
  open.push(server);
  await new Promise<void>((r) =>
    server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, r),
  );
  return server;
}

describe("addAcceptHandles", () => {
  it("a busy loop takes a burst of connections in far fewer turns, and every one reaches the server", async () => {
    const plain = await listening();
    const plainTurns = await turnsToAccept(plain);

    const server = await listening();
    const extra = await addAcceptHandles(server, EXTRA, silentLogger);
    open.push(...extra);
    expect(extra).toHaveLength(EXTRA);
    const turns = await turnsToAccept(server);

    // One accept per turn without them (less the first idle turns'); 16 per turn with.
    expect(plainTurns).toBeGreaterThan(CONNECTIONS / 4);
    expect(turns).toBeLessThan(plainTurns / 4);
  });

  it("closing the extra listeners and the server stops every accept", async () => {
    const server = await listening();
    const adopted: net.Server[] = [];
    const extra = await addAcceptHandles(server, 3, silentLogger, (l) =>
      adopted.push(l),
    );
    // Each was handed over as it started accepting, before the call returned.
    expect(adopted).toEqual(extra);
    const { port } = server.address() as net.AddressInfo;
    await Promise.all(
      [server, ...extra].map(
        (l) => new Promise<void>((r) => l.close(() => r())),
      ),
    );
    const refused = await new Promise<string>((resolve) => {
      const c = net.connect(port, "127.0.0.1");
      c.on("connect", () => {
        c.destroy();
        resolve("connected");
      });
      c.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? ""));
    });
    expect(refused).toBe("ECONNREFUSED");
  });
});

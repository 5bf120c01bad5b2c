/**
 * Test and benchmark faults that fail nothing: a PostgreSQL server frozen with SIGSTOP, and a
 * TCP proxy that silently stops delivering bytes (a partition: the sockets
 * stay open, nothing arrives, nothing errors).
 */
import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { ClusterNode } from "../backend/standalone/local_cluster/local_cluster";

/** Every process of `node`'s server: the postmaster and its children. */
function serverPids(node: ClusterNode): number[] {
  const pidFile = readFileSync(
    path.join(node.dataDir, "postmaster.pid"),
    "utf8",
  );
  const postmaster = Number(pidFile.split("\n")[0]);
  const children: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // pid (comm) state ppid ...; comm may hold spaces, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === postmaster) children.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return [postmaster, ...children];
}

/**
 * Freezes every process of `node` (SIGSTOP): connections stay open and the
 * kernel still accepts new ones, but nothing answers.
 * @returns a function that thaws them (SIGCONT); safe to call twice.
 */
export function freeze(node: ClusterNode): () => void {
  const pids = serverPids(node);
  for (const pid of pids) process.kill(pid, "SIGSTOP");
  let thawed = false;
  return () => {
    if (thawed) return;
    thawed = true;
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGCONT");
      } catch {
        // gone
      }
    }
  };
}

/**
 * A loopback TCP proxy to `target`: each accepted connection gets an
 * upstream one, and `wire` decides how bytes travel between the two.
 * Either side closing closes both.
 */
abstract class LoopbackProxy {
  private readonly server: net.Server;
  protected readonly pairs = new Set<[net.Socket, net.Socket]>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      const pair: [net.Socket, net.Socket] = [client, upstream];
      this.pairs.add(pair);
      this.wire(pair);
      const drop = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
    });
  }

  /** Connects a new client socket with its upstream socket. */
  protected abstract wire(pair: [net.Socket, net.Socket]): void;

  /** Starts listening on a free loopback port. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve) =>
      this.server.listen(0, "127.0.0.1", resolve),
    );
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  /** Closes every connection and the listener. */
  async close(): Promise<void> {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * A loopback TCP proxy to `target`. While {@link hold} is on, it delivers
 * nothing in either direction and accepts new connections without
 * forwarding them: from the client's side the server fell silent. Bytes are
 * held, not lost, so when the hold ends the streams resume intact (a healed
 * partition, after TCP's retransmissions).
 */
export class SilentProxy extends LoopbackProxy {
  private held = false;

  protected wire(pair: [net.Socket, net.Socket]): void {
    if (!this.held) connectPair(pair);
  }

  /** Stops (true) or resumes (false) delivering bytes. */
  hold(on: boolean): void {
    if (this.held === on) return;
    this.held = on;
    for (const pair of this.pairs) {
      if (on) {
        // Unpiped and paused, a socket reads nothing: bytes wait in the kernel.
        pair[0].unpipe(pair[1]);
        pair[1].unpipe(pair[0]);
        pair[0].pause();
        pair[1].pause();
      } else connectPair(pair);
    }
  }
}

function connectPair([a, b]: [net.Socket, net.Socket]): void {
  a.pipe(b);
  b.pipe(a);
}

/**
 * A loopback TCP proxy to `target` that delays every chunk, in both
 * directions, by {@link delayMs} (in order, also when the delay changes):
 * a replica in a farther zone, or one slowed down on demand.
 */
export class DelayProxy extends LoopbackProxy {
  constructor(
    target: { host: string; port: number },
    /** Added to every chunk from now on (ms); may be changed at any time. */
    public delayMs: number,
  ) {
    super(target);
  }

  protected wire([client, upstream]: [net.Socket, net.Socket]): void {
    const forward = (from: net.Socket, to: net.Socket) => {
      // One queue per direction: a chunk never overtakes an earlier one.
      const queue: { due: number; chunk: Buffer }[] = [];
      let timer: NodeJS.Timeout | null = null;
      const pump = () => {
        timer = null;
        const now = performance.now();
        while (queue.length > 0 && queue[0]!.due <= now) {
          const { chunk } = queue.shift()!;
          if (!to.destroyed) to.write(chunk);
        }
        if (queue.length > 0) timer = setTimeout(pump, queue[0]!.due - now);
      };
      from.on("data", (chunk: Buffer) => {
        const last = queue.at(-1)?.due ?? 0;
        queue.push({
          due: Math.max(performance.now() + this.delayMs, last),
          chunk,
        });
        if (timer === null)
          timer = setTimeout(pump, queue[0]!.due - performance.now());
      });
      from.on("close", () => {
        if (timer !== null) clearTimeout(timer);
      });
    };
    forward(client, upstream);
    forward(upstream, client);
  }
}

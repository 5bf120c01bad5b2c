/**
 * The overload scenario's load generator, in a process of its own so its
 * CPU does not distort the measuring bench process:
 * `node --import tsx overload_clients.ts <base url> <clients> <ms> <org:id,...>`.
 *
 * Each client is one keep-alive connection issuing point reads
 * (`GET /v1/finance/orgs/<org>/revenues/<id>`, cycling through the given
 * keys) back to back; after a 503 it honours Retry-After, as a well-behaved
 * client would. Prints one JSON line of {@link ClientFigures} at the end.
 */
import http from "node:http";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { timedGet } from "./timed_get";

/** What the load generator reports. */
export interface ClientFigures {
  /** Responses by HTTP status. */
  statuses: Record<string, number>;
  /** Requests that failed without a response (socket errors). */
  errors: number;
  firstErrors: string[];
  servedP50: number | null;
  servedP99: number | null;
  /** Slowest request on an already open connection, ms. */
  maxMs: number;
  /** Slowest first request of a client (it also opened the connection), ms. */
  maxFirstMs: number;
  /** Of the first requests, the longest wait for the TCP connection, ms. */
  maxConnectMs: number;
  /** 503s without a Retry-After header. */
  missingRetryAfter: number;
  /**
   * This generator's own event-loop delay (p99 and max, ms): how late it
   * could notice an answer. Client-side times include it.
   */
  loopP99Ms: number;
  loopMaxMs: number;
}

async function main(): Promise<void> {
  const [base, clientsArg, msArg, keysArg] = process.argv.slice(2);
  // The API key comes by environment, not argv (ps shows argv to anyone).
  const auth = { authorization: `Bearer ${process.env.BENCH_API_KEY ?? ""}` };
  const clients = Number(clientsArg);
  const durationMs = Number(msArg);
  const paths = (keysArg ?? "").split(",").map((k) => {
    const [org, id] = k.split(":");
    return `${base}/v1/finance/orgs/${org}/revenues/${id}`;
  });
  if (!(clients > 0) || !(durationMs > 0) || paths.length === 0)
    throw new Error(
      "usage: overload_clients.ts <url> <clients> <ms> <org:id,...>",
    );
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients + 1 });
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const until = performance.now() + durationMs;
  const statuses: Record<string, number> = {};
  const served: number[] = [];
  const errors: string[] = [];
  let maxMs = 0;
  let maxFirstMs = 0;
  let maxConnectMs = 0;
  let missingRetryAfter = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      let first = true;
      for (let i = c; performance.now() < until; i++) {
        try {
          const r = await timedGet(
            paths[i % paths.length]!,
            agent,
            undefined,
            auth,
          );
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
          if (first) maxFirstMs = Math.max(maxFirstMs, r.ms);
          else maxMs = Math.max(maxMs, r.ms);
          if (r.connectMs >= 0)
            maxConnectMs = Math.max(maxConnectMs, r.connectMs);
          first = false;
          if (r.status === 200) served.push(r.ms);
          if (r.status === 503) {
            if (r.retryAfter === null) missingRetryAfter++;
            await new Promise((s) =>
              setTimeout(s, 1000 * Number(r.retryAfter ?? 1)),
            );
          }
        } catch (err) {
          errors.push(String(err));
          await new Promise((s) => setTimeout(s, 50));
        }
      }
    }),
  );
  served.sort((a, b) => a - b);
  const q = (p: number) =>
    served[Math.min(served.length - 1, Math.ceil(p * served.length) - 1)] ??
    null;
  const figures: ClientFigures = {
    statuses,
    errors: errors.length,
    firstErrors: [...new Set(errors)].slice(0, 3),
    servedP50: q(0.5),
    servedP99: q(0.99),
    maxMs,
    maxFirstMs,
    maxConnectMs,
    missingRetryAfter,
    loopP99Ms: loop.percentile(99) / 1e6,
    loopMaxMs: loop.max / 1e6,
  };
  process.stdout.write(JSON.stringify(figures) + "\n");
  agent.destroy();
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});

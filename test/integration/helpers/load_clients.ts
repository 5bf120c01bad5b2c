/**
 * A load generator in its own process (so its CPU does not distort the
 * measuring test): `node --import tsx load_clients.ts <url> <clients> <ms>`.
 * Each client is a keep-alive connection issuing GETs back to back; a 503
 * is answered, then the client honours Retry-After like a well-behaved
 * client would. Prints one JSON line of figures at the end.
 */
import http from "node:http";
import { performance } from "node:perf_hooks";
import { timedGet } from "./timed_get";

const [url, clientsArg, msArg] = process.argv.slice(2);
const clients = Number(clientsArg);
const durationMs = Number(msArg);
const agent = new http.Agent({ keepAlive: true, maxSockets: clients + 1 });

const get = () => timedGet(url!, agent);

async function main(): Promise<void> {
  const until = performance.now() + durationMs;
  const statuses: Record<string, number> = {};
  const served: number[] = [];
  const errors: string[] = [];
  let maxMs = 0;
  let maxFirstMs = 0;
  let missingRetryAfter = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      let first = true;
      while (performance.now() < until) {
        try {
          const r = await get();
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
          // The first request of a client also opens its connection.
          if (first) maxFirstMs = Math.max(maxFirstMs, r.ms);
          else maxMs = Math.max(maxMs, r.ms);
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
  process.stdout.write(
    JSON.stringify({
      statuses,
      errors: errors.length,
      firstErrors: errors.slice(0, 3),
      servedP50: q(0.5),
      servedP99: q(0.99),
      maxMs,
      maxFirstMs,
      missingRetryAfter,
    }) + "\n",
  );
  agent.destroy();
}

void main();

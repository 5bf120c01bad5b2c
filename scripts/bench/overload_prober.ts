/**
 * The overload scenario's outside prober, in a process of its own:
 * `node --import tsx overload_prober.ts <url> <ms>`. GETs `url` every
 * 20 ms on a fresh TCP connection each time (no keep-alive), as a load
 * balancer or orchestrator probing from another host would, for `ms`.
 * Prints one JSON line of {@link ProberFigures} at the end.
 */
import { performance } from "node:perf_hooks";
import { timedGet } from "./timed_get";

/** What the prober reports. */
export interface ProberFigures {
  /** Probes answered 200. */
  ok: number;
  /** Probes answered otherwise, or failed without an answer. */
  failed: number;
  firstFailures: string[];
  /** Latency (connect to last byte) of every probe answered 200, ms, ascending. */
  ms: number[];
  /** Of those, the time until the TCP connection was established, ms, ascending. */
  connectMs: number[];
}

/** One probe on a connection of its own, as a load balancer's health check. */
const probe = (url: string) => timedGet(url, false, 10_000);

async function main(): Promise<void> {
  const [url, msArg] = process.argv.slice(2);
  const durationMs = Number(msArg);
  if (url === undefined || !(durationMs > 0))
    throw new Error("usage: overload_prober.ts <url> <ms>");
  // One probe first, not counted: this process's own start-up (lazy module
  // loading on a starved CPU) is not the service's answer time.
  await probe(url).catch(() => undefined);
  const until = performance.now() + durationMs;
  const out: ProberFigures = {
    ok: 0,
    failed: 0,
    firstFailures: [],
    ms: [],
    connectMs: [],
  };
  while (performance.now() < until) {
    try {
      const r = await probe(url);
      if (r.status === 200) {
        out.ok++;
        out.ms.push(r.ms);
        out.connectMs.push(r.connectMs);
      } else {
        out.failed++;
        if (out.firstFailures.length < 3)
          out.firstFailures.push(`HTTP ${r.status}`);
      }
    } catch (err) {
      out.failed++;
      if (out.firstFailures.length < 3) out.firstFailures.push(String(err));
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  out.ms.sort((a, b) => a - b);
  out.connectMs.sort((a, b) => a - b);
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});

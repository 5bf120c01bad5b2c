import { performance } from "node:perf_hooks";

/**
 * Resolves once `condition` holds, checking every 20 ms; throws "not seen:
 * <what>" after `timeoutMs` (a bound on waiting for an event, never a
 * latency assertion).
 */
export async function until(
  what: string,
  condition: () => boolean,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`not seen: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

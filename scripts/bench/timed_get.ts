/**
 * One GET for the overload scenario's processes (load generator and outside
 * prober): body drained; status, ms from the request to its last byte,
 * `Retry-After`, and for a request that opened its connection the ms until
 * the TCP connection was established (NaN on a reused one).
 */
import http from "node:http";
import { performance } from "node:perf_hooks";

export interface TimedAnswer {
  status: number;
  ms: number;
  connectMs: number;
  retryAfter: string | null;
}

/**
 * @param agent a keep-alive agent, or false for a new connection each time.
 * @param timeoutMs give up (reject) when the socket is silent this long; none when absent.
 * @param headers request headers (the API key of domain endpoints).
 */
export function timedGet(
  url: string,
  agent: http.Agent | false,
  timeoutMs?: number,
  headers?: Record<string, string>,
): Promise<TimedAnswer> {
  const t0 = performance.now();
  let connectMs = NaN;
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers }, (res) => {
      res.resume();
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          ms: performance.now() - t0,
          connectMs,
          retryAfter:
            (res.headers["retry-after"] as string | undefined) ?? null,
        }),
      );
      res.on("error", reject);
    });
    req.on("socket", (socket) => {
      if (socket.connecting)
        socket.once("connect", () => (connectMs = performance.now() - t0));
    });
    if (timeoutMs !== undefined)
      req.setTimeout(timeoutMs, () =>
        req.destroy(new Error(`no answer in ${timeoutMs / 1000} s`)),
      );
    req.on("error", reject);
  });
}

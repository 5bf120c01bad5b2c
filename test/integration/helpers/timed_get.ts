import http from "node:http";
import { performance } from "node:perf_hooks";

/** One GET's answer and how long it took, from request to last byte. */
export interface TimedResult {
  status: number;
  ms: number;
  retryAfter: string | null;
}

/** GET `url` on `agent` (keep-alive), body drained; rejects on a socket error. */
export function timedGet(url: string, agent: http.Agent): Promise<TimedResult> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        res.resume();
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            ms: performance.now() - t0,
            retryAfter:
              (res.headers["retry-after"] as string | undefined) ?? null,
          }),
        );
        res.on("error", reject);
      })
      .on("error", reject);
  });
}

import type http from "node:http";
import {
  InvalidArgumentError,
  type RouterErrorCode,
} from "../database/router/index";

/* Reading requests and writing responses for the standalone server. */

/** Largest request body accepted (1 MiB). */
export const MAX_BODY_BYTES = 1024 * 1024;

/** The first value of a request header. */
export function header(
  req: http.IncomingMessage,
  name: string,
): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The query string as a plain object (the last value of a repeated key wins). */
export function queryObject(
  params: URLSearchParams,
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of params) out[k] = v;
  return out;
}

/** The JSON body (undefined when empty); 400 `body` past 1 MiB or when malformed. */
export async function readJsonBody(
  req: http.IncomingMessage,
): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > MAX_BODY_BYTES)
    throw new InvalidArgumentError(
      "body",
      `larger than ${MAX_BODY_BYTES} bytes (1 MiB)`,
    );
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new InvalidArgumentError(
        "body",
        `larger than ${MAX_BODY_BYTES} bytes (1 MiB)`,
      );
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
  } catch {
    throw new InvalidArgumentError("body", "malformed JSON");
  }
}

/** Sends `body` as JSON (bigints as strings). */
export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
): void {
  const text = JSON.stringify(body, (_k, v: unknown) =>
    typeof v === "bigint" ? v.toString() : v,
  );
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}

/** Sends `{ code, message }`; closes the connection after a 400 or 413 (the body may be unread). */
export function sendError(
  res: http.ServerResponse,
  status: number,
  code: RouterErrorCode,
  message: string,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // After a rejected upload the rest of the body is unread: close the connection.
  if (status === 400 || status === 413) res.setHeader("Connection", "close");
  sendJson(res, status, { code, message });
}

import type http from "node:http";
import type { HttpResponse, RouteInput } from "../shared/http/route";
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

/**
 * Most bytes read and thrown away after a body is found too large, so the
 * client can finish sending and read the 413 (a client still writing when
 * the connection closes sees a network error instead). Past it, the
 * connection is closed at once.
 */
export const MAX_DRAIN_BYTES = 16 * MAX_BODY_BYTES;

/** A request body over {@link MAX_BODY_BYTES}: answered 413, its rest read and dropped first. */
export class BodyTooLargeError extends InvalidArgumentError {
  constructor() {
    super("body", `larger than ${MAX_BODY_BYTES} bytes (1 MiB)`);
  }
}

/**
 * The JSON body (undefined when empty).
 * @throws {BodyTooLargeError} past 1 MiB, once the rest is read and dropped
 *   (up to {@link MAX_DRAIN_BYTES});
 * @throws {InvalidArgumentError} naming `body` when it is not JSON.
 */
export async function readJsonBody(
  req: http.IncomingMessage,
): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? "0");
  const body = await readBody(req, declared > MAX_BODY_BYTES);
  if (body === null) throw new BodyTooLargeError();
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString("utf8")) as unknown;
  } catch {
    throw new InvalidArgumentError("body", "malformed JSON");
  }
}

/** The body's bytes; null when it is over the limit (the rest read and dropped, within the drain bound). */
function readBody(
  req: http.IncomingMessage,
  tooLarge: boolean,
): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    if (req.readableEnded) return resolve(tooLarge ? null : Buffer.alloc(0));
    const chunks: Buffer[] = [];
    let size = 0;
    let over = tooLarge;
    const detach = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const done = (value: Buffer | null) => {
      detach();
      resolve(value);
    };
    const onError = (err: Error) => {
      detach();
      reject(err);
    };
    // The client went away before the end of its body.
    const onClose = () => onError(new Error("request aborted"));
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (!over && size > MAX_BODY_BYTES) {
        over = true;
        chunks.length = 0;
      }
      if (!over) chunks.push(chunk);
      else if (size > MAX_DRAIN_BYTES) {
        // Past the bound: stop reading; the connection closes with the answer.
        done(null);
        req.pause();
        req.socket.once("finish", () => req.socket.destroy());
      }
    };
    const onEnd = () => done(over ? null : Buffer.concat(chunks));
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
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
  // Never sniffed as anything but JSON, never stored by a cache on the way.
  if (!res.hasHeader("Cache-Control"))
    res.setHeader("Cache-Control", "no-store");
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    "X-Content-Type-Options": "nosniff",
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

/** Sends a handler's {@link HttpResponse}: its headers, then its text or JSON body. */
export function sendResponse(res: http.ServerResponse, r: HttpResponse): void {
  for (const [name, value] of Object.entries(r.headers ?? {}))
    res.setHeader(name, value);
  if (r.contentType !== undefined) {
    res.writeHead(r.status, { "Content-Type": r.contentType });
    res.end(String(r.body));
  } else sendJson(res, r.status, r.body);
}

/** Who sent `req` and from which page (the dashboard login checks it). */
export function clientOf(
  req: http.IncomingMessage,
): NonNullable<RouteInput["client"]> {
  return {
    address: req.socket.remoteAddress ?? "unknown",
    origin: header(req, "origin"),
    host: header(req, "host"),
    forwardedHost: header(req, "x-forwarded-host"),
    fetchSite: header(req, "sec-fetch-site"),
  };
}

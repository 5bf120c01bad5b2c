/**
 * The standalone server at its edges, on a loopback port with a route of
 * its own: an oversized upload gets a 413 the client can read; JSON answers
 * are never sniffed or stored by a cache; a client that sends its headers
 * too slowly is cut within about a second of the header timeout.
 */
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../backend/database/router/support/logger";
import {
  createHttpServer,
  type DrainableServer,
} from "../../backend/standalone/http_server";
import { MAX_BODY_BYTES } from "../../backend/standalone/http_io";

let server: DrainableServer;
let base: string;
let port: number;
const received: unknown[] = [];

beforeAll(async () => {
  server = createHttpServer({
    routes: [
      {
        method: "POST",
        path: "/v1/things",
        endpoint: "things.create",
        successStatus: 201,
        handle: async ({ body }) => {
          received.push(body);
          return { ok: true };
        },
      },
    ],
    logger: silentLogger,
    tokens: {
      adminToken: null,
      monitoringToken: null,
      sessionSecret: "http-edges-session-secret",
    },
    headersTimeoutMs: 1_000,
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await server.shutdown(1_000, 100);
});

describe("the standalone server's edges", () => {
  it("answers a 2 MiB upload from fetch with a 413 it can read, and stays up", async () => {
    received.length = 0;
    const res = await fetch(`${base}/v1/things`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ blob: "x".repeat(2 * MAX_BODY_BYTES) }),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({
      code: "invalid_argument",
      message: "body: larger than 1048576 bytes (1 MiB)",
    });
    expect(received).toEqual([]);
    const ok = await fetch(`${base}/v1/things`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ small: 1 }),
    });
    expect(ok.status).toBe(201);
    expect(received).toEqual([{ small: 1 }]);
  });

  it("refuses a body that is not declared JSON with a 415, before the handler", async () => {
    received.length = 0;
    const cases: Record<string, string>[] = [
      { "Content-Type": "text/plain;charset=UTF-8" },
      { "Content-Type": "application/x-www-form-urlencoded" },
      {}, // fetch then sends text/plain itself, as a cross-site page would
    ];
    for (const headers of cases) {
      const res = await fetch(`${base}/v1/things`, {
        method: "POST",
        headers,
        body: JSON.stringify({ forged: true }),
      });
      expect(res.status).toBe(415);
      expect(await res.json()).toMatchObject({
        code: "invalid_argument",
        message: expect.stringMatching(/^Content-Type: /),
      });
    }
    expect(received).toEqual([]);
    // No body, no Content-Type needed.
    const empty = await fetch(`${base}/v1/things`, { method: "POST" });
    expect(empty.status).toBe(201);
  });

  it("sends JSON answers, errors included, with nosniff and no-store", async () => {
    for (const res of [
      await fetch(`${base}/v1/things`, {
        method: "POST",
        headers: { "Content-Type": "text/plain" },
        body: "{}",
      }),
      await fetch(`${base}/nowhere`),
    ]) {
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("cache-control")).toBe("no-store");
      await res.arrayBuffer();
    }
  });

  it("answers 413 at once to an oversized upload that asks to continue, without inviting it", async () => {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    let answer = "";
    socket.on("data", (d) => (answer += d.toString()));
    socket.write(
      `POST /v1/things HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${4 * MAX_BODY_BYTES}\r\nExpect: 100-continue\r\n\r\n`,
    );
    await new Promise((r) => socket.once("close", r));
    expect(answer).toMatch(/^HTTP\/1\.1 413/);
    expect(answer).not.toContain("100 Continue");
  });

  it("stops reading an upload past the drain bound and closes the connection", async () => {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    let closed = false;
    socket.on("close", () => (closed = true));
    socket.on("error", () => {});
    const total = 64 * MAX_BODY_BYTES;
    socket.write(
      `POST /v1/things HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${total}\r\n\r\n`,
    );
    const chunk = Buffer.alloc(MAX_BODY_BYTES, 32);
    let sent = 0;
    while (!closed && sent < total) {
      const ok = socket.write(chunk);
      sent += chunk.length;
      if (!ok)
        await Promise.race([
          new Promise((r) => socket.once("drain", r)),
          new Promise((r) => setTimeout(r, 2_000)),
        ]);
    }
    await new Promise((r) => (closed ? r(null) : socket.once("close", r)));
    // Cut well before the whole 64 MiB: at the 16 MiB drain bound (plus buffers).
    expect(sent).toBeLessThan(total);
  });

  it("cuts a client that sends its headers too slowly within about a second of the timeout", async () => {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    const started = Date.now();
    socket.write("GET /nowhere HTTP/1.1\r\nHost: x\r\n"); // and never the blank line
    const dripping = setInterval(() => socket.write("X-Slow: 1\r\n"), 200);
    let answer = "";
    socket.on("data", (d) => (answer += d.toString()));
    await new Promise((r) => socket.once("close", r));
    clearInterval(dripping);
    const tookMs = Date.now() - started;
    // Header timeout 1 s, checked every second: cut after about 1.9 s
    // (measured). The bound is ten times that, for a busy machine; before,
    // Node checked every 30 s and the cut came after about 30 s.
    expect(tookMs).toBeLessThan(20_000);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });
});

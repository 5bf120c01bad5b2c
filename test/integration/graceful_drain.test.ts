/**
 * A graceful stop must not reset a request that a client sends on its
 * keep-alive socket while the server drains: the server answers it with
 * `Connection: close` instead of closing the socket under it. (A drain
 * that closed sockets after a short quiet spell reset such requests when
 * the machine was busy: ECONNRESET in the middle of a deploy.)
 */
import net from "node:net";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { startTestApp, type TestApp } from "./helpers/app";

const { primaryUrl, replicaUrls } = inject("clusterUrls");
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp(primaryUrl, replicaUrls);
});

afterAll(async () => {
  await t?.close();
});

/** Sends one GET on `socket` and resolves the raw response head and body. */
function get(socket: net.Socket, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed || socket.readyState !== "open")
      return reject(new Error("the server closed the socket"));
    let text = "";
    const onData = (chunk: Buffer) => {
      text += chunk.toString("utf8");
      const head = text.indexOf("\r\n\r\n");
      const length = /content-length: (\d+)/i.exec(text);
      if (head >= 0 && length && text.length >= head + 4 + Number(length[1])) {
        socket.off("data", onData);
        socket.off("error", reject);
        socket.off("close", onClose);
        socket.off("end", onClose);
        resolve(text);
      }
    };
    const onClose = () => reject(new Error("socket closed before the answer"));
    socket.on("data", onData);
    socket.once("error", reject);
    socket.once("close", onClose);
    socket.once("end", onClose);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  });
}

it("a request sent on a kept-alive socket during the drain is answered with Connection: close, not reset", async () => {
  const port = Number(new URL(t.baseUrl).port);
  const socket = net.connect(port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const health = "/v1/system/database/replicas/health";
  const first = await get(socket, health);
  expect(first).toMatch(/^HTTP\/1\.1 200/);
  expect(first).toMatch(/connection: keep-alive/i);

  // The stop begins; the client, slow as on a busy machine, sends its next
  // request on the same socket half a second later.
  // Idle sockets wait 30 s before the drain closes them (the 5 s deadline
  // comes first): ten times the half second the client takes here.
  const closing = t.app.close(5_000, 30_000);
  await new Promise((r) => setTimeout(r, 500));
  const second = await get(socket, health);
  expect(second).toMatch(/^HTTP\/1\.1 200/);
  expect(second).toMatch(/connection: close/i);
  await closing;
  // Nothing is listening any more.
  await expect(
    new Promise((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => resolve(s.destroy()));
      s.once("error", reject);
    }),
  ).rejects.toMatchObject({ code: "ECONNREFUSED" });
});

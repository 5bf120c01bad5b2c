import { Redis } from "ioredis";
import type { SharedStore } from "./shared_store";

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /** How long one TCP connect + handshake may take before it is abandoned and retried; ms, default 2 000. */
  connectTimeoutMs?: number;
  /**
   * How long a command sent on a live connection may wait for its reply
   * before ioredis rejects it; ms, default 5 000. A backstop only: callers
   * bound their own wait far below this (GuardedStore), but a Redis that
   * stopped answering without closing the socket (SIGSTOP, a full network
   * buffer) would otherwise keep every unanswered command in memory.
   */
  commandTimeoutMs?: number;
  /** Store name for metrics and the status endpoint; default `redis`. */
  name?: string;
}

// Reconnect backoff: 50 ms doubling up to this cap, forever (until close()).
// Kept short so a Redis that comes back is used again within about a second.
const RECONNECT_CAP_MS = 1_000;

/**
 * The shared tier of the query cache on Redis (standalone), through ioredis.
 *
 * Commands never queue while the connection is down
 * (`enableOfflineQueue: false`, `maxRetriesPerRequest: 0`): they reject at
 * once, and the caller treats that as a miss. The client reconnects by
 * itself forever with capped backoff, so a Redis that returns is picked up
 * without a restart. While a connect attempt is in flight (start-up, or a
 * retry that has just fired) a command waits for its outcome rather than
 * failing, so the first requests after start do not count as failures.
 *
 * Nothing here logs: connection errors are swallowed by an `error` listener
 * (an unreachable Redis must never crash the process) and surface as
 * rejected commands, which {@link GuardedStore} counts and logs. The URL,
 * which may hold a password, is handed to ioredis and kept nowhere else.
 */
export class RedisStore implements SharedStore {
  /** See {@link RedisStoreOptions.name}. */
  readonly name: string;
  private readonly client: Redis;
  private connectAttempt: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private readonly reconnectListeners = new Set<() => void>();

  /**
   * Starts connecting at once (in the background; never throws for an
   * unreachable server).
   * @param url `redis://[[user]:password@]host[:port][/db]` or `rediss://...`.
   * @throws RangeError when an option is not a positive integer.
   */
  constructor(url: string, options: RedisStoreOptions = {}) {
    const connectTimeoutMs = options.connectTimeoutMs ?? 2_000;
    const commandTimeoutMs = options.commandTimeoutMs ?? 5_000;
    assertPositiveInteger("connectTimeoutMs", connectTimeoutMs);
    assertPositiveInteger("commandTimeoutMs", commandTimeoutMs);
    this.name = options.name ?? "redis";
    this.client = new Redis(url, {
      connectTimeout: connectTimeoutMs,
      commandTimeout: commandTimeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // A command cut off by a dropped connection has already been given up
      // by its caller; sending it again later would only be a late write.
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) =>
        Math.min(RECONNECT_CAP_MS, 50 * 2 ** Math.min(attempt - 1, 10)),
      reconnectOnError: null,
    });
    // Without a listener ioredis reports every failed reconnect on stderr
    // (with host and port); the failures reach callers as rejections.
    this.client.on("error", () => {});
    // A "ready" after the first one is a reconnection.
    let connectedBefore = false;
    this.client.on("ready", () => {
      if (connectedBefore) for (const l of [...this.reconnectListeners]) l();
      connectedBefore = true;
    });
  }

  /** `GET`; undefined when absent or expired. */
  async getEntry(key: string): Promise<string | undefined> {
    const client = await this.ready();
    return (await client.get(key)) ?? undefined;
  }

  /** `SET key value PX ttlMs`. @throws RangeError when `ttlMs` is not a positive integer. */
  async setEntry(key: string, value: string, ttlMs: number): Promise<void> {
    assertPositiveInteger("ttlMs", ttlMs);
    const client = await this.ready();
    await client.set(key, value, "PX", ttlMs);
  }

  /** `MGET`; 0 for a missing key. @throws Error when a key holds something other than an integer. */
  async getGenerations(keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return [];
    const client = await this.ready();
    const values = await client.mget([...keys]);
    return values.map((v) => (v === null ? 0 : parseGeneration(v)));
  }

  /**
   * One script (BUMP_SCRIPT): INCR + PEXPIRE per key, a missing key
   * starting from the server's clock; atomic, so concurrent bumps from any
   * number of instances never lose an increment. Needs Redis 5 or later.
   * @throws RangeError when `ttlMs` is not a positive integer.
   */
  async bumpGenerations(
    keys: readonly string[],
    ttlMs: number,
  ): Promise<number[]> {
    assertPositiveInteger("ttlMs", ttlMs);
    if (keys.length === 0) return [];
    const client = await this.ready();
    const results = (await client.eval(
      BUMP_SCRIPT,
      keys.length,
      ...keys,
      String(ttlMs),
    )) as unknown[];
    return keys.map((_, i) => parseGeneration(results[i]));
  }

  /** One pipeline of `SET key lsn NX PX ttlMs`: a fence already set keeps its value. */
  async setFences(
    fences: ReadonlyArray<readonly [key: string, lsn: string]>,
    ttlMs: number,
  ): Promise<void> {
    assertPositiveInteger("ttlMs", ttlMs);
    if (fences.length === 0) return;
    const client = await this.ready();
    const pipeline = client.pipeline();
    for (const [key, lsn] of fences) pipeline.set(key, lsn, "PX", ttlMs, "NX");
    checkReplies(await pipeline.exec(), "setFences");
  }

  /** `MGET`; undefined where no fence is stored. */
  async getFences(keys: readonly string[]): Promise<(string | undefined)[]> {
    if (keys.length === 0) return [];
    const client = await this.ready();
    const values = await client.mget([...keys]);
    return values.map((v) => v ?? undefined);
  }

  /**
   * `QUIT` when connected (bounded by a second), then drops the connection
   * and stops reconnecting. Idempotent; never rejects.
   */
  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  close(): Promise<void> {
    this.closing ??= this.quit();
    return this.closing;
  }

  private async quit(): Promise<void> {
    if (this.client.status === "ready") {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.client.quit().catch(() => {}),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, 1_000);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
    }
    this.client.disconnect();
  }

  /**
   * The client, once a connect attempt in flight has settled. Any other
   * state (connected, waiting to retry, closed) returns at once: a
   * disconnected client rejects the command without queueing it.
   */
  private async ready(): Promise<Redis> {
    const status = this.client.status;
    if (status === "connecting" || status === "connect") {
      this.connectAttempt ??= this.attemptSettled().finally(() => {
        this.connectAttempt = undefined;
      });
      await this.connectAttempt;
    }
    return this.client;
  }

  private attemptSettled(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        for (const event of ["ready", "close", "end"] as const)
          this.client.off(event, done);
        resolve();
      };
      // connectTimeoutMs bounds the attempt: ioredis then closes the socket.
      for (const event of ["ready", "close", "end"] as const)
        this.client.once(event, done);
    });
  }
}

function checkReplies(
  replies: [error: Error | null, result: unknown][] | null,
  what: string,
): unknown[] {
  if (replies === null) throw new Error(`${what}: transaction aborted`);
  return replies.map(([err, result]) => {
    if (err) throw err;
    return result;
  });
}

/**
 * INCR + PEXPIRE per key, atomically; a key that does not exist starts
 * from the server's clock in microseconds, not 0. A Redis that restarts
 * empty (or evicts a key) therefore never hands out a generation an old
 * entry recorded: new values are above every value handed out before
 * (unless one key was bumped over a million times a second).
 */
const BUMP_SCRIPT = `
local t = redis.call('TIME')
local base = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 0 then redis.call('SET', k, base) end
  out[i] = redis.call('INCR', k)
  redis.call('PEXPIRE', k, ARGV[1])
end
return out`;

function parseGeneration(value: unknown): number {
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    // The value itself stays out of the message (STYLE 7).
    throw new Error("a generation key holds something other than an integer");
  }
  return n;
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(
      `${name} must be a positive integer, got ${String(value)}`,
    );
  }
}

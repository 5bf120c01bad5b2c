/**
 * Starts the real standalone service (router + HTTP server) in-process on a
 * free port against given servers, with short intervals suited to tests.
 */
import { loadConfig } from "../../../backend/database/router/config/load_config";
import {
  silentLogger,
  type Logger,
} from "../../../backend/database/router/support/logger";
import type { RouterDeps } from "../../../backend/database/router/router_deps";
import { createApp, type App } from "../../../backend/standalone/app";
import {
  MIGRATIONS_DIR,
  runMigrations,
} from "../../../backend/standalone/migrate";
import {
  noteSecrets,
  record,
  recordingLogger,
} from "../../support/secret_scan";

/** A running test service. */
export interface TestApp {
  app: App;
  baseUrl: string;
  /** fetch relative to the service, JSON in and out. */
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<HttpResult>;
  close(): Promise<void>;
}

/** One HTTP exchange's outcome. */
export interface HttpResult {
  status: number;
  body: any;
  headers: Headers;
  servedBy: string | null;
}

/** The STORED_URL_KEY every test app shares (32 bytes, base64). */
export const TEST_URL_KEY = Buffer.alloc(32, 7).toString("base64");

/** Environment defaults for tests: fast checks and polls. */
export const FAST_ENV: Record<string, string> = {
  REPLICA_HEALTH_CHECK_INTERVAL: "500ms",
  REPLICA_LAG_POLL_INTERVAL: "200ms",
  DB_CONNECTION_TIMEOUT: "2s",
  DB_QUERY_TIMEOUT: "10s",
  CIRCUIT_BREAKER_OPEN_DURATION: "2s",
  // Most suites check which node served each read (X-Served-By, read
  // counters): no cache hits there. The cache's own suites turn it on.
  CACHE_ENABLED: "false",
  // Replicas added through the admin API are stored sealed (a fixed test key).
  STORED_URL_KEY: TEST_URL_KEY,
  // These suites are about routing, not callers: every request is the local
  // developer. Callers and tenants have their own suite (tenants.test.ts),
  // which runs with API keys as deployments do.
  AUTH: "off",
};

let fleets = 0;
/** A fleet name no other test app uses. */
export function uniqueFleetName(): string {
  return `test-${process.pid}-${Date.now().toString(36)}-${++fleets}`;
}

/** Migrates the primary, then starts the service on a free port. */
export async function startTestApp(
  primaryUrl: string,
  replicaUrls: readonly string[],
  env: Record<string, string> = {},
  deps: RouterDeps & { logger?: Logger; historyIntervalMs?: number } = {},
  /** `migrate: false` starts without touching the primary first (it may be down). */
  opts: { migrate?: boolean } = {},
): Promise<TestApp> {
  if (opts.migrate !== false) await runMigrations(primaryUrl, MIGRATIONS_DIR);
  const settings = {
    ...FAST_ENV,
    // A fleet of its own unless the test joins instances on purpose: test
    // files share one cluster, and admin changes follow the fleet.
    FLEET_NAME: uniqueFleetName(),
    ...env,
    DATABASE_URL: primaryUrl,
    READ_REPLICA_URLS: replicaUrls.join(","),
  };
  noteSecrets(settings);
  const config = loadConfig(settings);
  const { logger, ...rest } = deps;
  const app = await createApp(config, {
    ...rest,
    // Scanned for secrets (test/support/secret_scan.ts), as every answer below.
    logger: recordingLogger(logger ?? silentLogger),
  });
  const port = await app.listen(0);
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    app,
    baseUrl,
    call: async (method, p, body, headers = {}) => {
      const res = await fetch(baseUrl + p, {
        method,
        headers: {
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
          ...headers,
        },
        ...(body !== undefined
          ? { body: typeof body === "string" ? body : JSON.stringify(body) }
          : {}),
      });
      const text = await res.text();
      record(`${method} ${p.split("?")[0]}`, text);
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* Prometheus text or empty */
      }
      return {
        status: res.status,
        body: parsed,
        headers: res.headers,
        servedBy: res.headers.get("x-served-by"),
      };
    },
    // The test's own fetch sockets are parked when it closes: no need to
    // wait the production 2 s before closing them.
    close: () => app.close(2_000, 100),
  };
}

/**
 * `npm run screenshot:dashboard`: regenerates docs/dashboard.png, the
 * README's picture of the status dashboard. Builds a throwaway local
 * cluster (primary + 2 replicas), runs the service against it with a 1 s
 * history, sends about a minute of reads and writes while it pauses
 * replica_2's replay for a while and forces replica_1's circuit open and
 * closed, then photographs the page in headless chromium at laptop width.
 */
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../backend/database/router/config/load_config";
import { silentLogger } from "../backend/database/router/support/logger";
import { createApp } from "../backend/standalone/app";
import { startLocalCluster } from "../backend/standalone/local_cluster/local_cluster";
import { MIGRATIONS_DIR, runMigrations } from "../backend/standalone/migrate";
import pg from "pg";
import { launchChromium } from "../test/integration/helpers/browser";

const root = fileURLToPath(new URL("..", import.meta.url));
const OUT = path.join(root, "docs", "dashboard.png");
const TOKEN = randomBytes(16).toString("hex");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const dir = path.join(
    root,
    ".data",
    `screenshot-${randomBytes(4).toString("hex")}`,
  );
  const cluster = await startLocalCluster({ dir, replicas: 2 });
  const chrome = await launchChromium();
  try {
    await runMigrations(cluster.primary.url, MIGRATIONS_DIR);
    const config = loadConfig({
      DATABASE_URL: cluster.primary.url,
      READ_REPLICA_URLS: cluster.replicas.map((r) => r.url).join(","),
      ADMIN_TOKEN: TOKEN,
      FLEET_NAME: `screenshot-${process.pid}`,
      // A throwaway local cluster: every request is the local developer.
      AUTH: "off",
      REPLICA_HEALTH_CHECK_INTERVAL: "1s",
      REPLICA_LAG_POLL_INTERVAL: "250ms",
      REPLICA_MAX_LAG_SECONDS: "2s",
      CIRCUIT_BREAKER_OPEN_DURATION: "5s",
    });
    const app = await createApp(config, {
      logger: silentLogger,
      historyIntervalMs: 1_000,
    });
    const port = await app.listen(0);
    const base = `http://127.0.0.1:${port}`;
    const auth = { Authorization: `Bearer ${TOKEN}` };
    const call = (method: string, p: string, body?: unknown) =>
      fetch(base + p, {
        method,
        headers: { ...auth, "content-type": "application/json" },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      }).then((r) => r.text());

    let stop = false;
    const traffic = (async () => {
      for (let i = 0; !stop; i++) {
        const org = 1 + (i % 7);
        if (i % 10 === 0)
          await call("POST", `/v1/finance/orgs/${org}/revenues`, {
            amountCents: 1000 + i,
            currency: "EUR",
            occurredAt: new Date().toISOString(),
          });
        else await call("GET", `/v1/finance/orgs/${org}/revenues?limit=5`);
        await sleep(15);
      }
    })();
    const replica2 = new pg.Client({
      connectionString: cluster.replicas[1]!.url,
    });
    await replica2.connect();
    await sleep(15_000);
    await replica2.query("SELECT pg_wal_replay_pause()");
    await sleep(12_000);
    await replica2.query("SELECT pg_wal_replay_resume()");
    await replica2.end();
    await sleep(8_000);
    await call("POST", "/v1/system/database/replicas/replica_1/circuit/open");
    await sleep(8_000);
    await call("POST", "/v1/system/database/replicas/replica_1/circuit/close");
    await sleep(10_000);

    const page = await chrome.browser.newPage();
    await page.setExtraHTTPHeaders(auth);
    await page.setViewport({ width: 1280, height: 860 });
    await page.goto(`${base}/v1/system/database/replicas/dashboard`);
    await page.waitForSelector('body[data-contact="ok"]');
    await sleep(3_500);
    await page.screenshot({ path: OUT });
    stop = true;
    await traffic;
    await app.close(1_000);
    console.log(`wrote ${path.relative(root, OUT)}`);
  } finally {
    await chrome.close();
    await cluster.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

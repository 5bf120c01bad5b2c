/**
 * Scenario "fleet": how fast the fleet control plane spreads an admin change
 * and notices a dead instance. Three standalone apps in this process (A, B,
 * C) share one fleet on the bench cluster's primary; an endpoint switch is
 * flipped through A's admin API and B and C are polled until it is in
 * force. Then a fourth instance, a process of its own, is killed (SIGKILL)
 * and A's fleet view is polled until it shows it gone. Formerly asserted by
 * test/integration/fleet_control.test.ts (issue 20).
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { silentLogger } from "../../backend/database/router/support/logger";
import { createApp, type App } from "../../backend/standalone/app";
import type { BenchContext, Section } from "./common";
import { fmt, fmtInt, median, sleep } from "./common";
import { GOAL_HEADERS, goalRow, under } from "./goals";
import { spawnBenchService, type BenchService } from "./service";

const ENDPOINT = "finance.sumRevenues";
/** Heartbeat and timeout as the test had them; the defaults (5 s / 20 s) would make the dead instance's part take 25 s. */
const HEARTBEAT_MS = 250;
const TIMEOUT_MS = 1_500;

/** Polls `check` every 10 ms until it holds; ms it took, or NaN after `limitMs`. */
async function until(check: () => Promise<boolean>, limitMs = 10_000) {
  const t0 = performance.now();
  while (performance.now() - t0 < limitMs) {
    if (await check()) return performance.now() - t0;
    await sleep(10);
  }
  return NaN;
}

async function getJson(url: string): Promise<any> {
  return (await fetch(url)).json();
}

/** Scenario entry point. */
export async function fleet(ctx: BenchContext): Promise<Section> {
  const rounds = ctx.quick ? 2 : 6;
  const token = randomBytes(16).toString("hex");
  const env = {
    DATABASE_URL: ctx.cluster.primary.url,
    READ_REPLICA_URLS: ctx.cluster.replicas.map((r) => r.url).join(","),
    ADMIN_TOKEN: token,
    FLEET_NAME: `bench-fleet-${process.pid}-${Date.now().toString(36)}`,
    FLEET_HEARTBEAT_INTERVAL: `${HEARTBEAT_MS}ms`,
    FLEET_INSTANCE_TIMEOUT: `${TIMEOUT_MS}ms`,
  };
  const apps: { app: App; url: string }[] = [];
  let extra: BenchService | null = null;
  try {
    for (let i = 0; i < 3; i++) {
      const app = await createApp(loadConfig(env), { logger: silentLogger });
      apps.push({ app, url: `http://127.0.0.1:${await app.listen(0)}` });
    }
    const [a, ...others] = apps as [(typeof apps)[0], ...typeof apps];
    const switched: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const enabled = r % 2 === 1;
      const res = await fetch(
        `${a.url}/v1/system/database/read-replicas/endpoints/${ENDPOINT}`,
        {
          method: "PUT",
          headers: {
            "content-type": "application/json",
            authorization: `Bearer ${token}`,
          },
          body: JSON.stringify({ enabled }),
        },
      );
      if (res.status !== 200)
        throw new Error(`endpoint switch through A: HTTP ${res.status}`);
      const t = await Promise.all(
        others.map((o) =>
          until(async () => {
            const s = await getJson(
              `${o.url}/v1/system/database/replicas/status`,
            );
            return s.switches.disabledEndpoints.includes(ENDPOINT) === !enabled;
          }),
        ),
      );
      switched.push(Math.max(...t));
      await sleep(200);
    }

    ctx.log("fleet: a fourth instance, killed");
    extra = await spawnBenchService(ctx.repoRoot, env);
    const fleetView = async () =>
      (await getJson(`${a.url}/v1/system/database/replicas/fleet`)) as {
        instances: { instanceId: string; status: string }[];
      };
    const known = new Set(apps.map((x) => x.app.control.instanceId));
    const liveMs = await until(
      async () =>
        (await fleetView()).instances.filter((i) => i.status === "live")
          .length === 4,
    );
    const killedAt = performance.now();
    await extra.kill();
    const goneMs = await until(async () =>
      (await fleetView()).instances.some(
        (i) => !known.has(i.instanceId) && i.status === "gone",
      ),
    );
    const killToGone = Number.isNaN(goneMs)
      ? NaN
      : performance.now() - killedAt;
    return section(switched, liveMs, killToGone);
  } finally {
    await extra?.stop();
    for (const x of apps) await x.app.close(1_000).catch(() => {});
  }
}

function section(
  switched: readonly number[],
  liveMs: number,
  goneMs: number,
): Section {
  const slowest = Math.max(...switched);
  return {
    id: "fleet",
    title: "Fleet control: an admin change reaches every instance",
    method: [
      "Three standalone apps (createApp, as `npm start` builds them) in the bench process share one fleet on the bench cluster's primary " +
        `(FLEET_CONTROL=database, FLEET_POLL_INTERVAL 1 s by default under LISTEN/NOTIFY). ${switched.length} times, the endpoint switch ${ENDPOINT} ` +
        "is flipped through A's admin API (`PUT /v1/system/database/read-replicas/endpoints/...`); B's and C's status are polled every 10 ms " +
        "from the moment A answered until both show it. Then a fourth instance runs as a process of its own, is killed with SIGKILL (no " +
        `goodbye), and A's fleet view is polled until it shows it gone. FLEET_HEARTBEAT_INTERVAL ${HEARTBEAT_MS} ms and FLEET_INSTANCE_TIMEOUT ${fmtInt(TIMEOUT_MS)} ms as in ` +
        "the test (defaults 5 s / 20 s: gone after about 20 s).",
    ],
    tables: [
      {
        headers: [...GOAL_HEADERS],
        rows: [
          goalRow(
            "switch on A → in force on B and C, slowest round",
            slowest,
            `${fmt(slowest, 0)} ms (median ${fmt(median([...switched]), 0)} ms; ${switched.map((x) => fmt(x, 0)).join(", ")})`,
            under(2_000, " ms"),
          ),
          goalRow(
            "SIGKILL → A's fleet view shows the instance gone",
            goneMs,
            Number.isNaN(goneMs) ? "never (10 s)" : `${fmtInt(goneMs)} ms`,
            under(TIMEOUT_MS + 1_000, " ms"),
          ),
        ],
      },
    ],
    notes: [
      "Goals (issue 20, formerly asserted by test/integration/fleet_control.test.ts): a change in force on every instance within 2 s; " +
        "a killed instance shown gone within FLEET_INSTANCE_TIMEOUT plus 1 s.",
      `The fourth instance was listed live ${fmt(liveMs, 0)} ms after it logged "listening".`,
    ],
  };
}

/**
 * Scenario "session_settings": DB_QUERY_TIMEOUT enforced by the server on
 * the Encore path's pools (createPgPoolSettingSessionOnConnect sets
 * `statement_timeout` by a statement on connect, since Encore's database
 * proxy sends its own startup parameters). Every node runs a statement
 * longer than the timeout; the server must cancel it (SQLSTATE 57014) after
 * the timeout, before pg's client-side query_timeout (1 s later) would.
 * Formerly asserted by test/integration/session_settings.test.ts (issue 20).
 */
import { performance } from "node:perf_hooks";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { createPgPoolSettingSessionOnConnect } from "../../backend/database/router/nodes/pg_pool";
import { silentLogger } from "../../backend/database/router/support/logger";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import type { BenchContext, Section } from "./common";
import { fmtInt } from "./common";
import { judge, under } from "./goals";

const TIMEOUT_MS = 1_500;

/** `url` with the startup parameters the Encore proxy would send instead of ours. */
function asBehindEncoreProxy(url: string): string {
  const sep = url.includes("?") ? "&" : "?";
  return `${url}${sep}options=-c%20statement_timeout%3D0&application_name=encore`;
}

/** Scenario entry point. */
export async function sessionSettings(ctx: BenchContext): Promise<Section> {
  const { cluster } = ctx;
  const config = loadConfig({
    DATABASE_URL: asBehindEncoreProxy(cluster.primary.url),
    READ_REPLICA_URLS: cluster.replicas
      .map((r) => asBehindEncoreProxy(r.url))
      .join(","),
    DB_QUERY_TIMEOUT: `${TIMEOUT_MS}ms`,
  });
  const router = new ReplicaRouter(config.router, {
    logger: silentLogger,
    poolFactory: createPgPoolSettingSessionOnConnect,
  });
  await router.start();
  const goal = under(TIMEOUT_MS + 1_000, " ms");
  let rows: string[][];
  try {
    rows = await Promise.all(
      router.clusters[0]!.nodes.map(async (node) => {
        const t0 = performance.now();
        let code = "none: it completed";
        try {
          await node.query("SELECT pg_sleep(5)", []);
        } catch (err) {
          code = String((err as { code?: unknown }).code ?? "no SQLSTATE");
        }
        const ms = performance.now() - t0;
        const ok = code === "57014" && judge(ms, goal) === "met";
        return [
          node.name,
          code,
          `${fmtInt(ms)} ms`,
          `57014, ${goal.text}`,
          ok ? "met" : "missed",
        ];
      }),
    );
  } finally {
    await router.close();
  }
  return {
    id: "session_settings",
    title: "Session settings: DB_QUERY_TIMEOUT on the Encore path",
    method: [
      "A router with the Encore path's pool factory (createPgPoolSettingSessionOnConnect) and DB_QUERY_TIMEOUT " +
        `${fmtInt(TIMEOUT_MS)} ms, over URLs that carry the startup parameters Encore's database proxy sends upstream ` +
        "(`statement_timeout=0`, `application_name=encore`), so the timeout holds only if the pool sets it after connecting. " +
        "Each node runs `SELECT pg_sleep(5)` at once; the time is until the statement was refused.",
    ],
    tables: [
      {
        headers: ["node", "SQLSTATE", "cancelled after", "goal", "verdict"],
        rows,
      },
    ],
    notes: [
      "Goal (issue 20, formerly asserted by test/integration/session_settings.test.ts): cancelled by the server (57014, query_canceled) " +
        `before ${fmtInt(TIMEOUT_MS + 1_000)} ms, i.e. by its own statement_timeout and not by pg's client-side query_timeout, which carries no SQLSTATE.`,
    ],
  };
}

/**
 * Scenario 3, read-your-writes: does a read right after a write see it, and
 * how many reads still reach a replica? Four policies, all through one
 * ReplicaRouter over both replicas (service defaults: lag poll 1 s,
 * READ_YOUR_WRITES_MAX_WAIT 50 ms):
 *   tokens    the write's consistencyToken() travels with the user's reads;
 *   strong    every read on the primary;
 *   sticky    primary for 2 s after the user's last write, else any replica
 *             (the usual hand-rolled approach, implemented here);
 *   eventual  any replica (shows the staleness the others prevent).
 */
import { performance } from "node:perf_hooks";
import {
  EVENTUAL,
  parseToken,
  STRONG,
  type Consistency,
} from "../../backend/database/router/consistency/consistency";
import type { RouteReason } from "../../backend/database/router/read_planner";
import type { ReplicaRouter } from "../../backend/database/router/replica_router";
import { runWithRequestContext } from "../../backend/database/router/base/request_context";
import type { BenchContext, Section, Table } from "./common";
import { fmt, fmtInt, median, pct, percentile, rng, sleep } from "./common";
import { startRouter } from "./db";

type Mode = "tokens" | "strong" | "sticky" | "eventual";
const MODES: readonly Mode[] = ["tokens", "strong", "sticky", "eventual"];
const STICKY_MS = 2_000;

/** One simulated user's state. */
interface User {
  orgId: number;
  lastWriteAt: number;
  lastId: string | null;
  token: string | null;
}

interface Tally {
  reads: number;
  onReplica: number;
  stale: number;
  pairs: number;
  pairStale: number;
  pairOnReplica: number;
  writes: number;
  readMs: number[];
  pairMs: number[];
}

const tally = (): Tally => ({
  reads: 0,
  onReplica: 0,
  stale: 0,
  pairs: 0,
  pairStale: 0,
  pairOnReplica: 0,
  writes: 0,
  readMs: [],
  pairMs: [],
});

function consistencyFor(mode: Mode, user: User, now: number): Consistency {
  switch (mode) {
    case "tokens":
      return user.token === null
        ? EVENTUAL
        : { level: "read_your_writes", token: parseToken(user.token) };
    case "strong":
      return STRONG;
    case "sticky":
      return now - user.lastWriteAt < STICKY_MS ? STRONG : EVENTUAL;
    case "eventual":
      return EVENTUAL;
  }
}

async function write(
  router: ReplicaRouter,
  mode: Mode,
  user: User,
): Promise<void> {
  // As the HTTP layers do: a request that will answer with a token wants
  // one, so the write brings the primary's position in its own round trip.
  if (mode === "tokens")
    return runWithRequestContext({ servedBy: [], wantsToken: true }, () =>
      writeOnce(router, mode, user),
    );
  return writeOnce(router, mode, user);
}

async function writeOnce(
  router: ReplicaRouter,
  mode: Mode,
  user: User,
): Promise<void> {
  const conn = router.getWriteConnection(user.orgId);
  const row = await conn.queryRow<{
    id: string;
  }>`INSERT INTO revenues (org_id, amount_cents, currency, status, description, occurred_at)
    VALUES (${user.orgId}, ${1234}, 'EUR', 'pending', 'read-your-writes bench', now()) RETURNING id::text AS id`;
  if (row === null) throw new Error("INSERT returned no row");
  user.lastId = row.id;
  user.token = mode === "tokens" ? await conn.consistencyToken() : null;
  user.lastWriteAt = performance.now();
}

/** Reads the user's last row (or `fallbackId` before the first write); counts staleness only for the user's own rows. */
async function read(
  router: ReplicaRouter,
  mode: Mode,
  user: User,
  fallbackId: number,
  t: Tally,
): Promise<{ stale: boolean; onReplica: boolean }> {
  const id = user.lastId ?? String(fallbackId);
  const conn = router.getReadConnection({
    orgId: user.orgId,
    consistency: consistencyFor(mode, user, performance.now()),
  });
  const t0 = performance.now();
  const row =
    await conn.queryRow`SELECT id FROM revenues WHERE org_id = ${user.orgId} AND id = ${id}`;
  t.readMs.push(performance.now() - t0);
  const stale = user.lastId !== null && row === null;
  const onReplica = conn.servedBy !== null && conn.servedBy !== "primary";
  t.reads++;
  if (onReplica) t.onReplica++;
  if (stale) t.stale++;
  return { stale, onReplica };
}

/** Back-to-back write→read pairs from 16 workers; modes alternate in rounds; `setMode` tells the routing observer whose reads follow. */
async function pairs(
  ctx: BenchContext,
  router: ReplicaRouter,
  setMode: (m: Mode | null) => void,
): Promise<{ tallies: Map<Mode, Tally>; perMode: number; rounds: number }> {
  const rounds = 5;
  const perMode = ctx.quick ? 100 : 500;
  const workers = 16;
  const tallies = new Map<Mode, Tally>(MODES.map((m) => [m, tally()]));
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < MODES.length; j++) {
      const mode = MODES[(j + r) % MODES.length]!;
      const t = tallies.get(mode)!;
      const target = t.pairs + perMode / rounds;
      const deadline = performance.now() + 20_000;
      setMode(mode);
      await Promise.all(
        Array.from({ length: workers }, async (_, w) => {
          const user: User = {
            orgId: ctx.seed.orgIds[(w * 7 + r) % ctx.seed.orgIds.length]!,
            lastWriteAt: -Infinity,
            lastId: null,
            token: null,
          };
          while (t.pairs < target && performance.now() < deadline) {
            t.pairs++;
            const t0 = performance.now();
            await write(router, mode, user);
            t.writes++;
            const { stale, onReplica } = await read(router, mode, user, 0, t);
            t.pairMs.push(performance.now() - t0);
            if (stale) t.pairStale++;
            if (onReplica) t.pairOnReplica++;
          }
        }),
      );
      setMode(null);
    }
  }
  return { tallies, perMode, rounds };
}

/** Simulated users of all four modes at once: write every 2–5 s, read every 100 ms in between. */
async function sessions(
  ctx: BenchContext,
  router: ReplicaRouter,
): Promise<{ tallies: Map<Mode, Tally>; users: number; seconds: number }> {
  const usersPerMode = ctx.quick ? 8 : 20;
  const durationMs = ctx.quick ? 4_000 : 10_000;
  const thinkMs = 100;
  const tallies = new Map<Mode, Tally>(MODES.map((m) => [m, tally()]));
  const start = performance.now();
  const deadline = start + durationMs;
  const { orgOf, idOf } = ctx.seed;
  let u = 0;
  const runs: Promise<void>[] = [];
  for (const mode of MODES) {
    const t = tallies.get(mode)!;
    for (let i = 0; i < usersPerMode; i++, u++) {
      const rand = rng(1000 + u);
      const k = Math.floor(rand() * orgOf.length);
      const fallbackId = idOf[k]!;
      const user: User = {
        orgId: orgOf[k]!,
        lastWriteAt: -Infinity,
        lastId: null,
        token: null,
      };
      runs.push(
        (async () => {
          let nextWrite = start + rand() * 3_000;
          await sleep(rand() * thinkMs);
          while (performance.now() < deadline) {
            if (performance.now() >= nextWrite) {
              await write(router, mode, user);
              t.writes++;
              t.pairs++;
              const { stale } = await read(router, mode, user, fallbackId, t);
              if (stale) t.pairStale++;
              nextWrite = performance.now() + 2_000 + rand() * 3_000;
            } else {
              await read(router, mode, user, fallbackId, t);
            }
            await sleep(thinkMs);
          }
        })(),
      );
    }
  }
  await Promise.all(runs);
  return { tallies, users: usersPerMode, seconds: durationMs / 1000 };
}

/** Scenario entry point. */
export async function readYourWrites(ctx: BenchContext): Promise<Section> {
  let current: Mode | null = null;
  const reasons = new Map<Mode, Map<RouteReason, number>>(
    MODES.map((m) => [m, new Map()]),
  );
  const router = await startRouter(
    ctx.cluster,
    ctx.cluster.replicas,
    { DB_MAX_CONNECTIONS: "20" },
    {
      observer: {
        onRoute(_node, _endpoint, reason) {
          if (current === null) return;
          const m = reasons.get(current)!;
          m.set(reason, (m.get(reason) ?? 0) + 1);
        },
      },
    },
  );
  try {
    ctx.log("read-your-writes: write→read pairs");
    const p = await pairs(ctx, router, (m) => (current = m));
    ctx.log("read-your-writes: simulated users");
    const s = await sessions(ctx, router);
    const pairRows = MODES.map((m) => {
      const t = p.tallies.get(m)!;
      const why = [...reasons.get(m)!.entries()]
        .sort((a, b) => b[1] - a[1])
        .map(([r, k]) => `${r} ${fmtInt(k)}`)
        .join(", ");
      return [
        m,
        fmtInt(t.pairs),
        fmtInt(t.pairStale),
        pct(t.pairStale, t.pairs),
        pct(t.pairOnReplica, t.pairs),
        fmt(percentile(Float64Array.from(t.readMs).sort(), 50), 2),
        fmt(percentile(Float64Array.from(t.readMs).sort(), 99), 2),
        fmt(median(t.pairMs), 2),
        why,
      ];
    });
    const sessionRows = MODES.map((m) => {
      const t = s.tallies.get(m)!;
      return [
        m,
        fmtInt(t.writes),
        fmtInt(t.reads),
        fmtInt(t.stale),
        fmtInt(t.pairStale),
        pct(t.onReplica, t.reads),
        fmt(percentile(Float64Array.from(t.readMs).sort(), 99), 2),
      ];
    });
    const tables: Table[] = [
      {
        title: `Write, then immediately read it back (${fmtInt(p.perMode)} pairs per policy, 16 concurrent, ${p.rounds} alternating rounds)`,
        headers: [
          "policy",
          "pairs",
          "stale reads",
          "stale %",
          "read served by a replica",
          "read p50 ms",
          "read p99 ms",
          "write+read p50 ms",
          "routing reasons of the reads",
        ],
        rows: pairRows,
      },
      {
        title: `Simulated users (${s.users} per policy, all four policies at once for ${s.seconds} s; each writes every 2–5 s and reads its latest row every 100 ms)`,
        headers: [
          "policy",
          "writes",
          "reads",
          "stale reads",
          "of which right after a write",
          "reads served by replicas",
          "read p99 ms",
        ],
        rows: sessionRows,
      },
    ];
    const tok = s.tallies.get("tokens")!;
    const sticky = s.tallies.get("sticky")!;
    const pt = p.tallies.get("tokens")!;
    return {
      id: "read_your_writes",
      title: "Read-your-writes",
      method: [
        "A write inserts a revenue on the primary (`getWriteConnection(orgId).queryRow`), and the same user then reads that row " +
          "by id through `getReadConnection({ orgId, consistency })`; a read that returns no row is stale. Policies: **tokens** " +
          '(the write\'s `consistencyToken()`, parsed with `parseToken`, sent as `{ level: "read_your_writes", token }` on every later ' +
          "read of that user), **strong** (primary), **sticky** (primary for 2 s after the user's last write, else eventual; " +
          "implemented in the bench), **eventual**. One router over both replicas with the service defaults " +
          "(REPLICA_LAG_POLL_INTERVAL=1s, READ_YOUR_WRITES_MAX_WAIT=50ms).",
      ],
      tables,
      notes: [
        `Tokens: ${fmtInt(pt.pairStale + tok.stale)} stale reads in ${fmtInt(pt.reads + tok.reads)} (goal 0: ${pt.pairStale + tok.stale === 0 ? "met" : "missed"}); ` +
          `${pct(tok.onReplica, tok.reads)} of the simulated users' reads on replicas vs ${pct(sticky.onReplica, sticky.reads)} with 2 s stickiness.`,
        "A token read right after its write finds the replica not yet known to have replayed the LSN (the lag sample is up to " +
          "1 s old), so the read carries its replay check in its own round trip (the check and the read in one flight on one " +
          "connection); when the check finds the replica behind, the rows are discarded and the read waits for replay (up to " +
          "50 ms) or goes where the token is visible.",
        "The token comes with the write: the write runs in a request context that wants one, as over HTTP, so BEGIN, the " +
          'INSERT, COMMIT and the primary\'s WAL insert position go in one round trip ("write+read" includes it).',
      ],
    };
  } finally {
    await router.close();
  }
}

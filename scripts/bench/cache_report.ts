/**
 * The cache scenario's section of the report: per-mode and per-read-kind
 * tables from the tallies of every segment, with the method and notes.
 */
import {
  ORGS,
  READ_KINDS,
  TOTALS_BLOCK,
  ZIPF_S,
  idealHits,
  type Sequence,
} from "./cache_sequence";
import { emptyKindTally, type KindTally, type Tally } from "./cache_workload";
import type { Section } from "./common";
import { fmt, fmtInt, median, pct, percentile } from "./common";
import { zipf } from "./zipf";

const KIND_LABEL: Record<(typeof READ_KINDS)[number], string> = {
  sum: "sum",
  list: "first page",
  totals: "totals of 10",
};

/** Counts of `kinds` of all `tallies` added up. */
function pooled(
  tallies: readonly Tally[],
  kinds: readonly (typeof READ_KINDS)[number][] = READ_KINDS,
): KindTally {
  const out: KindTally = emptyKindTally();
  for (const t of tallies)
    for (const k of kinds)
      for (const f of Object.keys(out) as (keyof KindTally)[])
        out[f] += t.kinds[k][f];
  return out;
}

const hits = (k: KindTally) => k.hitsMemory + k.hitsShared;
const lookups = (k: KindTally) =>
  hits(k) + k.misses + k.bypassed + k.unavailable;
const perRead = (n: number, k: KindTally) =>
  k.requests > 0 ? n / k.requests : NaN;

/** The section, from each mode's tallies (one per round). */
export function renderCacheSection(input: {
  modes: readonly string[];
  tallies: ReadonlyMap<string, readonly Tally[]>;
  /** The sequence each round replayed. */
  sequences: readonly Sequence[];
  rounds: number;
  segmentMs: number;
  warmupMs: number;
  concurrency: number;
  seedNote: string;
}): Section {
  const { modes, tallies } = input;
  const of = (m: string) => tallies.get(m) ?? [];
  const perMode = modes.map((m) => {
    const ts = of(m);
    const all = pooled(ts);
    const writes = ts.reduce((n, t) => n + t.writes, 0);
    const ideal = ts.map((t, r) => idealHits(input.sequences[r]!, t.issued));
    return {
      idealHitRate: pct(
        ideal.reduce((n, x) => n + x.hits, 0),
        ideal.reduce((n, x) => n + x.lookups, 0),
      ),
      m,
      ts,
      all,
      writes,
      reqPerSec: median(
        ts.map((t) => ((pooled([t]).requests + t.writes) * 1000) / t.elapsedMs),
      ),
      p50: median(ts.map((t) => percentile(t.readLatenciesMs, 50))),
      p99: median(ts.map((t) => percentile(t.readLatenciesMs, 99))),
      replicaPerRead: perRead(all.onReplica, all),
    };
  });
  const base = perMode[0]!;
  const notes: string[] = [];
  for (const x of perMode.slice(1)) {
    notes.push(
      `${x.m}: ${fmt(100 * (1 - x.replicaPerRead / base.replicaPerRead), 0)} % fewer replica statements per read than ` +
        `${base.m}; read p50 ${fmt(x.p50, 2)} ms vs ${fmt(base.p50, 2)} ms, p99 ${fmt(x.p99, 2)} ms vs ${fmt(base.p99, 2)} ms.`,
    );
  }
  for (const x of perMode) {
    if (x.all.unavailable === 0) continue;
    notes.push(
      `${x.m}: ${pct(x.all.unavailable, lookups(x.all))} of cached lookups went to the database without the cache because ` +
        "the shared tier was unavailable (a Redis call past CACHE_TIMEOUT, or its breaker open after 3 in a row, for 5 s): " +
        "`bypass_unavailable`. On this machine the client, Redis and three PostgreSQL servers share the cores.",
    );
  }
  const skipsOf = (ts: readonly Tally[]) => {
    const sum = new Map<string, number>();
    for (const t of ts)
      for (const [r, n] of t.skips) sum.set(r, (sum.get(r) ?? 0) + n);
    return sum;
  };
  const orgs = zipf(ORGS, ZIPF_S);
  return {
    id: "cache",
    title: "Query cache: off vs memory vs memory + Redis",
    method: [
      `${input.concurrency} concurrent clients run a finance mix through \`FinanceRepository\` over orgs 1..${fmtInt(ORGS)} ` +
        `(~100 revenues each), orgs drawn Zipf(s = ${ZIPF_S}) (the 10 hottest orgs get ${fmt(100 * orgs.topShare(10), 0)} % ` +
        `of requests, the 100 hottest ${fmt(100 * orgs.topShare(100), 0)} %): 45 % \`sum\`, 40 % first-page \`list\` (50 rows), ` +
        `10 % \`totalsByOrg\` of a block of ${TOTALS_BLOCK} consecutive orgs (blocks also Zipf), 5 % \`create\` (same org ` +
        "distribution, so hot orgs are also written most and invalidation is exercised). All reads eventual.",
      "Three routers over both replicas in one process, identical but for the cache: CACHE_ENABLED=false; the in-process tier " +
        "alone (defaults: 64 MiB, sums 30 s, first pages 10 s); the in-process tier in front of a `redis-server` started for this " +
        "scenario on a free 127.0.0.1 port (RouterDeps.sharedCache = RedisStore, CACHE_LOCAL_TTL 5 s, CACHE_TIMEOUT 25 ms). " +
        `${input.rounds} rounds, modes in rotated order; in each round every mode replays the same pre-generated request ` +
        `sequence for ${input.segmentMs / 1000} s, after ${input.warmupMs / 1000} s of warm-up on another sequence (not ` +
        "counted). Before each segment a caching router's cache is switched off and on (emptied, shared epochs bumped), since " +
        "the other routers' writes in earlier segments did not invalidate it; hit rates are therefore those of a cache " +
        `${input.warmupMs / 1000} s old.`,
      "Counted in process, per request kind, through each router's hooks (each request runs in a request context naming its " +
        "kind, as the HTTP layer does): cache outcomes from `CacheObserver.onRead` (hit rate = hits / cached lookups); " +
        "replica statements from `RouterObserver.onRoute` with a replica node (every read sent to a replica, hedges included; " +
        "each of these reads is one statement). Latency is per read request, end to end through the repository; p50/p99 and " +
        "requests/s are medians over rounds, counts are summed. Ideal hit rate: what a cache with instant, exact invalidation " +
        "and no TTL would get on the part of the sequence the mode replayed, one request at a time from empty (a read hits " +
        "when the same read came earlier with no write to its scope since); the gap to the measured rate is what fences, " +
        "TTLs, concurrency and the shared tier cost.",
    ],
    tables: [
      {
        title: "Per mode",
        headers: [
          "mode",
          "requests",
          "requests/s",
          "hit rate",
          "ideal hit rate",
          "hits memory / Redis",
          "read p50 ms",
          "read p99 ms",
          "replica statements / read",
          "primary reads / read",
          "errors",
        ],
        rows: perMode.map((x) => [
          x.m,
          fmtInt(x.all.requests + x.writes),
          fmtInt(x.reqPerSec),
          pct(hits(x.all), lookups(x.all)),
          x.idealHitRate,
          `${fmtInt(x.all.hitsMemory)} / ${fmtInt(x.all.hitsShared)}`,
          fmt(x.p50, 2),
          fmt(x.p99, 2),
          fmt(x.replicaPerRead, 3),
          fmt(perRead(x.all.onPrimary, x.all), 3),
          fmtInt(x.ts.reduce((n, t) => n + t.errors, 0)),
        ]),
      },
      {
        title: "Per read kind: hit rate, replica statements / read",
        headers: ["mode", ...READ_KINDS.map((k) => KIND_LABEL[k])],
        rows: perMode.map((x) => [
          x.m,
          ...READ_KINDS.map((k) => {
            const t = pooled(x.ts, [k]);
            return `${pct(hits(t), lookups(t))}, ${fmt(perRead(t.onReplica, t), 3)}`;
          }),
        ]),
      },
      {
        title: "Writes, invalidations and fills",
        headers: [
          "mode",
          "writes",
          "invalidations",
          "misses",
          "fills not stored (reason)",
          "lookups without the shared tier",
          "breaker opened",
        ],
        rows: perMode.map((x) => {
          const skips = [...skipsOf(x.ts)]
            .sort((a, b) => b[1] - a[1])
            .map(([r, n]) => `${fmtInt(n)} ${r}`);
          return [
            x.m,
            fmtInt(x.writes),
            fmtInt(x.ts.reduce((n, t) => n + t.invalidations, 0)),
            fmtInt(x.all.misses),
            skips.length > 0 ? skips.join(", ") : "–",
            fmtInt(x.all.unavailable),
            fmtInt(x.ts.reduce((n, t) => n + t.breakerOpens, 0)),
          ];
        }),
      },
    ],
    notes: [
      ...notes,
      "Totals are cached per cluster and table (`allOrgs`): any write to revenues in the cluster invalidates every cached " +
        "block, so at 5 % writes they hit far less than sums and first pages.",
      "After a write, a fill of that org is stored only if the replica it read had replayed past the write; a fill whose " +
        "replica's last lag sample is older asks it for its replay position first. Fills that still read older data show " +
        "as `behind_fence` (the write had not reached that replica yet).",
      "One process only: the Redis tier cannot add hits the in-process tier misses, except for copies whose 5 s local TTL " +
        "ran out; what it costs shows here (a generation read per cached read, bumps and fences per write), what it buys " +
        "(entries and invalidations shared between instances) does not.",
      input.seedNote,
    ],
  };
}

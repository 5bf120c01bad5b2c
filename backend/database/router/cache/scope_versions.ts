import { clusterGenKey, fenceKey } from "./cache_keys";
import type { SharedTier } from "./cache_types";
import { LocalGenerations, type KnownFence } from "./memory_store";

/** Generations outlive every entry by far (an expired one restarts from the clock, above every value before). */
export const GENERATION_TTL_MS = 7 * 24 * 3_600_000;

/**
 * One cluster's question for the primary's position: the one on the wire,
 * and the next one, which callers join until it is sent.
 */
interface PositionQuestions {
  sent: Promise<unknown> | null;
  next: Promise<bigint | null> | null;
}

/**
 * The generations of the cache's scopes and their fences, kept in the
 * shared tier when there is one, else in this process: read before a fill,
 * bumped after a write. A write sends nothing to the primary for its fence:
 * it sets it from a position it already knows (read with the write, see
 * {@link ScopeVersions.bump}), or the first fill of a bumped scope sets it
 * from the primary's position then ({@link ScopeVersions.required}).
 */
export class ScopeVersions {
  private readonly local = new LocalGenerations();
  private readonly questions = new Map<string, PositionQuestions>();

  constructor(
    private readonly shared: SharedTier | null,
    /** The primary's WAL position now; null when unknown. */
    private readonly currentLsn: (cluster: string) => Promise<bigint | null>,
    /** Cluster names, to find the cluster of an epoch key. */
    private readonly clusters: () => readonly string[],
  ) {}

  /**
   * The primary's position, read after this call: fills share a question,
   * but only one not yet sent. A question already on the wire may have been
   * answered before the caller read its generations, so before the write
   * that bumped them; a caller arriving then waits for the next one.
   * At most one question per cluster is on the wire at a time.
   */
  private positionNow(cluster: string): Promise<bigint | null> {
    let q = this.questions.get(cluster);
    if (q === undefined) {
      q = { sent: null, next: null };
      this.questions.set(cluster, q);
    }
    if (q.next !== null) return q.next;
    const state = q;
    const next = (state.sent ?? Promise.resolve()).then(() => {
      state.next = null;
      const asked = this.currentLsn(cluster).catch(() => null);
      state.sent = asked;
      void asked.then(() => {
        if (state.sent === asked) state.sent = null;
      });
      return asked;
    });
    state.next = next;
    return next;
  }

  /** Current generations of `keys`; undefined when the shared tier cannot say. */
  async read(keys: readonly string[]): Promise<number[] | undefined> {
    return this.shared === null
      ? this.local.get(keys)
      : this.shared.getGenerations(keys);
  }

  /**
   * Where generations stand before a write is sent, for {@link bump}'s
   * `known` fence; undefined with a shared tier (another instance's bumps
   * cannot be ordered against this write's position: fills fence them).
   */
  mark(): number | undefined {
    return this.shared === null ? this.local.mark : undefined;
  }

  /**
   * Bumps `keys` (synchronously without a shared tier); undefined when the
   * shared tier could not (the guard then recovers). With `known` (a position read after the write committed, and
   * the {@link mark} taken before it was sent), keys no other write bumped
   * since the mark are fenced at once; the others are fenced by their first
   * fill.
   */
  bump(
    keys: readonly string[],
    known?: KnownFence,
  ): number[] | Promise<number[] | undefined> {
    // In process: synchronous, so a write's invalidation costs no promise.
    return this.shared === null
      ? this.local.bump(keys, known)
      : this.shared.bumpGenerations(keys, GENERATION_TTL_MS);
  }

  /**
   * Sets the fences of epoch keys just bumped (a recovery after lost
   * invalidations, or switching the cache on): the primary's position now.
   */
  async fenceEpochs(
    keys: readonly string[],
    generations: readonly number[],
  ): Promise<void> {
    const clusters = this.clusters();
    await Promise.all(
      keys.map(async (key, i) => {
        const cluster = clusters.find((c) => clusterGenKey(c) === key);
        const gen = generations[i];
        if (cluster === undefined || gen === undefined) return;
        await this.fence(cluster, [key], [gen]);
      }),
    );
  }

  /** Fences `keys` at `gens` with the primary's position now; none when it cannot be read. */
  private async fence(
    cluster: string,
    keys: readonly string[],
    gens: readonly number[],
  ): Promise<void> {
    let lsn: bigint | null;
    try {
      lsn = await this.currentLsn(cluster);
    } catch {
      lsn = null;
    }
    // No fence yet: the next fill of these scopes sets one.
    if (lsn !== null) await this.writeFences(keys, gens, lsn);
  }

  /** Sets each fence unless one is set already (any value set is past the write). */
  private async writeFences(
    keys: readonly string[],
    gens: readonly number[],
    lsn: bigint,
  ): Promise<void> {
    const shared = this.shared;
    if (shared === null) {
      keys.forEach((k, i) => this.local.setFence(k, gens[i]!, lsn));
      return;
    }
    await shared.setFences(
      keys.map((k, i) => [fenceKey(k, gens[i]!), lsn.toString()] as const),
      GENERATION_TTL_MS,
    );
  }

  /**
   * The highest fence the generations `gens` require (0n for scopes never
   * written); undefined when it cannot be known. A fence missing for a
   * generation (the usual case right after a write: writes do not ask the
   * primary) is set by this fill: it read the generation after the write
   * bumped it, so the primary's position read after that is past the write
   * too (see {@link positionNow} for why a question already sent is not shared).
   */
  async required(
    cluster: string,
    genKeys: readonly string[],
    gens: readonly number[],
  ): Promise<bigint | undefined> {
    const shared = this.shared;
    const needed = genKeys
      .map((key, i) => ({ key, gen: gens[i]! }))
      .filter((x) => shared === null || x.gen > 0);
    let fences: (bigint | null)[];
    if (shared === null)
      fences = this.local.fences(
        needed.map((x) => x.key),
        needed.map((x) => x.gen),
      );
    else {
      const got =
        needed.length === 0
          ? []
          : await shared.getFences(needed.map((x) => fenceKey(x.key, x.gen)));
      if (got === undefined) return undefined;
      fences = got.map(parseFence);
    }
    let max = 0n;
    const missing: number[] = [];
    fences.forEach((f, i) => {
      if (f === null) missing.push(i);
      else if (f > max) max = f;
    });
    if (missing.length === 0) return max;
    const lsn = await this.positionNow(cluster);
    if (lsn === null) return undefined;
    // In the background: this fill has what it needs.
    void this.writeFences(
      missing.map((i) => needed[i]!.key),
      missing.map((i) => needed[i]!.gen),
      lsn,
    ).catch(() => undefined);
    return lsn > max ? lsn : max;
  }
}

/** A fence as stored in the shared tier; null when absent or not a position. */
function parseFence(text: string | undefined): bigint | null {
  return text !== undefined && /^\d{1,20}$/.test(text) ? BigInt(text) : null;
}

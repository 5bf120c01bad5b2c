import { clusterGenKey, fenceKey } from "./cache_keys";
import type { SharedTier } from "./cache_types";
import { LocalGenerations } from "./memory_store";

/** Generations outlive every entry by far (an expired one restarts from the clock, above every value before). */
export const GENERATION_TTL_MS = 7 * 24 * 3_600_000;

/**
 * The generations of the cache's scopes and their fences, kept in the
 * shared tier when there is one, else in this process: read before a fill,
 * bumped after a write, fenced with the primary's position after the bump.
 */
export class ScopeVersions {
  private readonly local = new LocalGenerations();
  private readonly asking = new Map<string, Promise<bigint | null>>();

  constructor(
    private readonly shared: SharedTier | null,
    /** The primary's WAL position now; null when unknown. */
    private readonly currentLsn: (cluster: string) => Promise<bigint | null>,
    /** Cluster names, to find the cluster of an epoch key. */
    private readonly clusters: () => readonly string[],
  ) {}

  /** The primary's position now, one question per cluster at a time (fills share it). */
  private positionNow(cluster: string): Promise<bigint | null> {
    let pending = this.asking.get(cluster);
    if (pending === undefined) {
      pending = this.currentLsn(cluster)
        .catch(() => null)
        .finally(() => this.asking.delete(cluster));
      this.asking.set(cluster, pending);
    }
    return pending;
  }

  /** Current generations of `keys`; undefined when the shared tier cannot say. */
  async read(keys: readonly string[]): Promise<number[] | undefined> {
    return this.shared === null
      ? this.local.get(keys)
      : this.shared.getGenerations(keys);
  }

  /** Bumps `keys`; undefined when the shared tier could not (the guard then recovers). */
  async bump(keys: readonly string[]): Promise<number[] | undefined> {
    return this.shared === null
      ? this.local.bump(keys)
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
  async fence(
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
   * generation (the write could not read the primary's position, or has
   * not yet) is set by this fill: it read the generation after the write
   * bumped it, so the primary's position now is past that write too.
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

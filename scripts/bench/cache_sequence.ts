/**
 * The request sequence of the cache scenario: a finance mix over 1,000
 * orgs drawn Zipf(1.1), pre-generated from a seed so every mode replays
 * the same requests, and the hit rate an ideal cache would get on it.
 */
import { rng } from "./common";
import { zipf } from "./zipf";

/** Orgs the reads and writes spread over (ids 1..ORGS). */
export const ORGS = 1_000;
/** Exponent of the Zipf distribution of orgs (and of totals blocks). */
export const ZIPF_S = 1.1;
/** `totalsByOrg` reads a block of this many consecutive orgs. */
export const TOTALS_BLOCK = 10;

/** What one request does. */
export type Kind = "create" | "sum" | "list" | "totals";
/** Read kinds, in report order. */
export const READ_KINDS = ["sum", "list", "totals"] as const;
/** Kinds by index in {@link Sequence.kind}. */
export const KINDS: readonly Kind[] = ["create", "sum", "list", "totals"];
/** Cumulative shares of the mix: 5 % create, 45 % sum, 40 % first page, 10 % totals. */
const MIX: readonly number[] = [0.05, 0.5, 0.9, 1];

/** A request sequence: kind index and key (org id, or totals block index) per request. */
export interface Sequence {
  readonly kind: Uint8Array;
  readonly key: Int32Array;
}

/**
 * `length` requests of the mix from seed `seed`: orgs (for sum, first
 * page, create) Zipf-distributed over 1..{@link ORGS}, totals blocks over
 * 1..ORGS/{@link TOTALS_BLOCK}, rank k being org k (block k).
 */
export function sequence(seed: number, length: number): Sequence {
  const rand = rng(seed);
  const orgs = zipf(ORGS, ZIPF_S);
  const blocks = zipf(ORGS / TOTALS_BLOCK, ZIPF_S);
  const kind = new Uint8Array(length);
  const key = new Int32Array(length);
  for (let i = 0; i < length; i++) {
    const x = rand();
    const k = MIX.findIndex((share) => x < share);
    kind[i] = k;
    key[i] = KINDS[k] === "totals" ? blocks.rank(rand()) : orgs.rank(rand());
  }
  return { kind, key };
}

/**
 * Hits and lookups an ideal cache would have on the first `n` requests of
 * `seq`, run one at a time from an empty cache: a read hits when the same
 * read came earlier with no write to its scope since (the org for sums and
 * first pages, any org for totals, as the router scopes them); no TTL, no
 * fences, no races.
 */
export function idealHits(
  seq: Sequence,
  n: number,
): { hits: number; lookups: number } {
  const filledAt = new Map<number, number>();
  const writtenAt = new Map<number, number>();
  let lastWrite = -1;
  let hits = 0;
  let lookups = 0;
  for (let i = 0; i < Math.min(n, seq.kind.length); i++) {
    const kind = KINDS[seq.kind[i]!]!;
    const key = seq.key[i]!;
    if (kind === "create") {
      writtenAt.set(key, i);
      lastWrite = i;
      continue;
    }
    lookups++;
    const slot = seq.kind[i]! * (ORGS + 1) + key;
    const filled = filledAt.get(slot);
    const written = kind === "totals" ? lastWrite : (writtenAt.get(key) ?? -1);
    if (filled !== undefined && filled > written) hits++;
    else filledAt.set(slot, i);
  }
  return { hits, lookups };
}

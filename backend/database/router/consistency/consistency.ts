import { InvalidArgumentError } from "../base/errors";
import { formatLsn, isValidLsn, parseLsn } from "../lag/lag_tracker";

/**
 * How fresh a read must be.
 * - `eventual`: any serving replica (the default, unless DEFAULT_READ_CONSISTENCY says otherwise).
 * - `bounded`: a replica whose measured lag is within the bound, else the primary.
 * - `strong`: the primary.
 * - `read_your_writes`: a replica that has replayed the token's LSN, else the primary.
 */
export type Consistency =
  | { readonly level: "eventual" }
  | {
      readonly level: "bounded";
      readonly maxLagSeconds?: number;
      readonly maxLagBytes?: number;
    }
  | {
      readonly level: "strong";
      /** Set on DEFAULT_READ_CONSISTENCY's strong: the operator's default, not a choice of this read. */
      readonly byDefault?: true;
    }
  | { readonly level: "read_your_writes"; readonly token: ConsistencyToken };

/** A write's position: the cluster it went to and the primary's WAL LSN after commit. */
export interface ConsistencyToken {
  readonly cluster: string;
  readonly lsn: bigint;
}

export const EVENTUAL: Consistency = Object.freeze({ level: "eventual" });
export const STRONG: Consistency = Object.freeze({ level: "strong" });

const TOKEN_RE =
  /^([a-z][a-z0-9_]{0,62}):([0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8})$/;

/** Serialises a token for `X-Consistency-Token`, e.g. `main:0/4025708`. */
export function formatToken(token: ConsistencyToken): string {
  return `${token.cluster}:${formatLsn(token.lsn)}`;
}

/**
 * Parses an `X-Consistency-Token` value. Bounded in length and shape, so a
 * client cannot make the server do more than one regex match and a parse.
 *
 * @throws {InvalidArgumentError} for anything else.
 */
export function parseToken(
  text: string,
  field = "X-Consistency-Token",
): ConsistencyToken {
  const m = text.length <= 80 ? TOKEN_RE.exec(text.trim()) : null;
  if (!m || !isValidLsn(m[2]!)) {
    throw new InvalidArgumentError(
      field,
      "expected a consistency token returned by a write, like main:0/4025708",
    );
  }
  return { cluster: m[1]!, lsn: parseLsn(m[2]!) };
}

/**
 * Parses `X-Consistency: strong | eventual | bounded=<seconds>`.
 *
 * @throws {InvalidArgumentError} naming the header.
 */
export function parseConsistencyHeader(
  text: string,
  field = "X-Consistency",
): Consistency {
  const v = text.trim().toLowerCase();
  if (v === "eventual") return EVENTUAL;
  if (v === "strong") return STRONG;
  const m = /^bounded=(\d{1,6}(?:\.\d{1,3})?)s?$/.exec(v);
  if (m) return { level: "bounded", maxLagSeconds: Number(m[1]) };
  throw new InvalidArgumentError(
    field,
    "expected strong, eventual or bounded=<seconds>",
  );
}

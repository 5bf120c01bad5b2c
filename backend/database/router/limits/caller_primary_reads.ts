import { RouterError } from "../base/errors";
import type { RequestContext } from "../base/request_context";
import type { Consistency } from "../consistency/consistency";
import type { RouteReason } from "../read_planner";
import type { RouterConfig } from "../config/config";
import { ConcurrencyCaps } from "./concurrency_caps";

/** Why a read lands on the primary because of what the caller asked for. */
const CALLER_CHOSEN: ReadonlySet<RouteReason> = new Set<RouteReason>([
  "strong",
  "bounded_unavailable",
  "token_not_replayed",
  // A token naming a cluster the read is not on (or none at all): tokens
  // are not signed, so a made-up one must not be a way around the policy.
  "token_other_cluster",
]);

/**
 * CALLER_PRIMARY_READS: the operator's policy for reads a caller sends to
 * the primary through the consistency it asks for (`X-Consistency: strong`,
 * a bound or a token no replica meets). Only a read whose consistency is
 * the request's own (from its headers) is held to it: a repository that
 * asks for `strong` in code, or the router falling back when no replica
 * serves, is not the caller's choice.
 */
export class CallerPrimaryReads {
  private readonly caps: ConcurrencyCaps | null;

  /** CALLER_PRIMARY_READS of `config`, waiting CONCURRENCY_CAP_WAIT past a count. */
  static of(config: RouterConfig): CallerPrimaryReads {
    return new CallerPrimaryReads(config.callerPrimaryReads, config.capWaitMs);
  }

  constructor(
    private readonly policy: "allow" | "refuse" | number,
    waitMs: number,
  ) {
    this.caps =
      typeof policy === "number"
        ? new ConcurrencyCaps({ perUser: policy, perOrg: null, waitMs })
        : null;
  }

  /** Whether a read planned onto the primary for `reason` is held to the policy. */
  applies(
    reason: RouteReason,
    consistency: Consistency,
    ctx: RequestContext | undefined,
  ): ctx is RequestContext {
    return (
      this.policy !== "allow" &&
      ctx !== undefined &&
      ctx.consistency === consistency &&
      CALLER_CHOSEN.has(reason)
    );
  }

  /**
   * Runs `read` under the policy.
   *
   * @throws {RouterError} `permission_denied` for a strong read and
   *   `unavailable` for the others when the policy refuses them;
   *   `resource_exhausted` (429) past the per-user count.
   */
  async run<T>(
    reason: RouteReason,
    ctx: RequestContext,
    read: () => Promise<T>,
  ): Promise<T> {
    if (this.caps === null) {
      if (reason === "strong")
        throw new RouterError(
          "permission_denied",
          "strong reads are not allowed here (CALLER_PRIMARY_READS=refuse)",
        );
      throw new RouterError(
        "unavailable",
        "no replica meets the requested consistency yet, and reads on the primary are not allowed here (CALLER_PRIMARY_READS=refuse); retry",
      );
    }
    const release = await this.caps.acquire(ctx.userId ?? "", undefined);
    try {
      return await read();
    } finally {
      release();
    }
  }
}

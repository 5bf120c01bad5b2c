import { OrgOutOfRangeError, InvalidArgumentError } from "../base/errors";
import type { OrgRangeConfig } from "../config/config";

/**
 * Maps an org id to the cluster that holds its data: a sorted list of
 * inclusive `[minOrgId, maxOrgId]` ranges, searched by bisection.
 */
export class OrgRanges<C> {
  private readonly mins: number[];
  private readonly maxs: number[];
  private readonly targets: C[];

  /**
   * @throws {Error} when ranges are inverted or overlap (a start-up error).
   */
  constructor(
    ranges: readonly OrgRangeConfig[],
    resolve: (cluster: string) => C,
  ) {
    const sorted = [...ranges].sort((a, b) => a.minOrgId - b.minOrgId);
    sorted.forEach((r, i) => {
      if (r.minOrgId > r.maxOrgId) {
        throw new Error(
          `ORG_RANGES: range ${r.minOrgId}..${r.maxOrgId} has min above max`,
        );
      }
      const prev = sorted[i - 1];
      if (prev !== undefined && r.minOrgId <= prev.maxOrgId) {
        throw new Error(
          `ORG_RANGES: ranges ${prev.minOrgId}..${prev.maxOrgId} and ${r.minOrgId}..${r.maxOrgId} overlap`,
        );
      }
    });
    this.mins = sorted.map((r) => r.minOrgId);
    this.maxs = sorted.map((r) => r.maxOrgId);
    this.targets = sorted.map((r) => resolve(r.cluster));
  }

  /**
   * The cluster of `orgId`.
   * @throws {InvalidArgumentError} if `orgId` is not a non-negative safe integer.
   * @throws {OrgOutOfRangeError} if no range covers it.
   */
  lookup(orgId: number): C {
    if (!Number.isSafeInteger(orgId) || orgId < 0) {
      throw new InvalidArgumentError("orgId", "must be a non-negative integer");
    }
    let lo = 0;
    let hi = this.mins.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (orgId < this.mins[mid]!) hi = mid - 1;
      else if (orgId > this.maxs[mid]!) lo = mid + 1;
      else return this.targets[mid]!;
    }
    throw new OrgOutOfRangeError(orgId);
  }
}

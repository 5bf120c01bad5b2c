import type { OrgRangeConfig } from "../config/config";
import { NotFoundError } from "../base/errors";
import type { NodeCluster } from "../nodes/node_cluster";
import { OrgRanges } from "./org_ranges";

/** Finds the cluster of an org (by org range) or of a name. */
export class ClusterDirectory {
  /** The cluster built from DATABASE_URL / READ_REPLICA_URLS; orgs outside every range are an error, not this. */
  readonly main: NodeCluster;
  private readonly byName = new Map<string, NodeCluster>();
  private readonly ranges: OrgRanges<NodeCluster>;

  /** @param clusters the main cluster first. @throws {Error} when org ranges are invalid. */
  constructor(
    readonly clusters: readonly NodeCluster[],
    orgRanges: readonly OrgRangeConfig[],
  ) {
    for (const c of clusters) this.byName.set(c.name, c);
    this.main = clusters[0]!;
    this.ranges = new OrgRanges(orgRanges, (name) => this.byName.get(name)!);
  }

  /** The cluster holding `orgId` (the main cluster when undefined). */
  of(orgId: number | undefined): NodeCluster {
    return orgId === undefined ? this.main : this.ranges.lookup(orgId);
  }

  /** A cluster by name. @throws {NotFoundError} */
  named(name: string): NodeCluster {
    const c = this.byName.get(name);
    if (c === undefined) throw new NotFoundError(`no cluster named "${name}"`);
    return c;
  }

  /** A cluster by name, or undefined. */
  find(name: string): NodeCluster | undefined {
    return this.byName.get(name);
  }
}

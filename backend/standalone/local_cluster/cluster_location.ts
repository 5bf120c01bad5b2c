/**
 * Where a cluster's data lives. As root, the server binaries run as the
 * postgres user, who must be able to reach the data. When a folder above the
 * requested dir keeps it out (a clone under /root, mode 700), the data is kept
 * in a folder of its own under the postgres user's home (else os.tmpdir()),
 * named after a hash of the requested path so every later run finds the same
 * one, and the requested path becomes a symlink to it (relocation.ts).
 * Everything else, and everything when we are not root, stays where asked.
 */
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { lstat, readlink, realpath } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { runningAsRoot } from "./pg_binaries";

/** The folder, under the postgres home or the temp dir, that holds relocated clusters. */
export const RELOCATION_FOLDER = "replica-router";

/** What planClusterDir needs to know of the machine (injectable, so it is testable without root). */
export interface LocationFacts {
  /**
   * Whether the postgres user can search `dir` (and every folder above it). A folder that does
   * not exist yet counts as its deepest existing ancestor: missing folders are created 0755.
   */
  canTraverse(dir: string): Promise<boolean>;
  /** The postgres user's home when it is an existing folder, else null. */
  postgresHome: string | null;
  /** os.tmpdir(), the fallback when the home will not do. */
  tmpDir: string;
  /** What the requested path resolves to when it is a symlink that resolves, else null. */
  linkTarget: string | null;
}

/** Where a cluster's data lives, and why that is not the requested path. */
export interface ClusterPlace {
  /** The folder that holds (or will hold) cluster.json and the node data dirs. */
  dir: string;
  /** e.g. "the postgres user cannot traverse /root"; null when `dir` is the requested path. */
  relocatedBecause: string | null;
}

/** The name of the relocated folder of `requested` (an absolute path): `cluster-<16 hex>`. */
export function relocatedName(requested: string): string {
  const hash = createHash("sha256").update(requested).digest("hex");
  return `cluster-${hash.slice(0, 16)}`;
}

/** The topmost folder of `dir`'s path (itself included) that `canTraverse` refuses; null when none. */
export async function blockingAncestor(
  dir: string,
  canTraverse: (dir: string) => Promise<boolean>,
): Promise<string | null> {
  if (await canTraverse(dir)) return null; // the common case: one check covers the whole path
  const chain: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    chain.unshift(d);
    if (d === path.dirname(d)) break;
  }
  for (const d of chain) if (!(await canTraverse(d))) return d;
  return dir;
}

/**
 * The decision, for root: the requested (absolute) path itself when the postgres user can reach
 * its parent folder; else the folder a symlink at that path already leads to, when postgres can
 * reach that; else `<postgres home or tmp dir>/replica-router/cluster-<hash of the path>`.
 * The requested folder itself does not count: prepareClusterDir opens it to the postgres user.
 * @throws Error when neither the postgres home nor the temp dir is reachable by postgres.
 */
export async function planClusterDir(
  requested: string,
  facts: LocationFacts,
): Promise<ClusterPlace> {
  const blocker = await blockingAncestor(
    path.dirname(requested),
    facts.canTraverse,
  );
  if (blocker === null) return { dir: requested, relocatedBecause: null };
  const because = `the postgres user cannot traverse ${blocker}`;
  const { linkTarget } = facts;
  if (
    linkTarget !== null &&
    (await facts.canTraverse(path.dirname(linkTarget)))
  )
    return { dir: linkTarget, relocatedBecause: because };
  for (const base of [facts.postgresHome, facts.tmpDir]) {
    if (base !== null && (await facts.canTraverse(base))) {
      const dir = path.join(base, RELOCATION_FOLDER, relocatedName(requested));
      return { dir, relocatedBecause: because };
    }
  }
  throw new Error(
    `local cluster: ${because}, nor ${facts.postgresHome ?? "its home"} or ${facts.tmpDir} ` +
      `to keep the cluster there instead; chmod o+x ${blocker} or pick another dir`,
  );
}

/** The deepest folder of `dir`'s path that exists (as root sees it). */
function deepestExisting(dir: string): string {
  let d = dir;
  while (!existsSync(d) && d !== path.dirname(d)) d = path.dirname(d);
  return d;
}

/** {@link LocationFacts.canTraverse} for real: `runuser -u postgres -- test -x <dir>`. */
export function postgresCanTraverse(dir: string): Promise<boolean> {
  const target = deepestExisting(dir);
  return new Promise((resolve) => {
    // cwd "/": the postgres user may not be allowed into ours.
    execFile(
      "runuser",
      ["-u", "postgres", "--", "test", "-x", target],
      { cwd: "/", timeout: 10_000 },
      (err) => resolve(err === null),
    );
  });
}

/** The postgres user's home (`getent passwd postgres`) when it is an existing folder, else null. */
export function postgresHome(): string | null {
  try {
    const entry = execFileSync("getent", ["passwd", "postgres"], {
      encoding: "utf8",
    });
    const home = entry.trim().split(":")[5];
    return home && statSync(home).isDirectory() ? home : null;
  } catch {
    return null;
  }
}

/** What `requested` resolves to when it is a symlink that resolves, else null. */
async function symlinkTarget(requested: string): Promise<string | null> {
  const st = await lstat(requested).catch(() => null);
  if (!st?.isSymbolicLink()) return null;
  return realpath(requested).catch(() => null);
}

/**
 * Where the cluster asked for at `requested` (absolute) keeps its data, as startLocalCluster will
 * decide it (for root, from the machine's facts); creates nothing.
 * @throws Error as {@link planClusterDir}.
 */
export async function localClusterLocation(
  requested: string,
): Promise<ClusterPlace> {
  if (!runningAsRoot()) return { dir: requested, relocatedBecause: null };
  return planClusterDir(requested, {
    canTraverse: postgresCanTraverse,
    postgresHome: postgresHome(),
    tmpDir: os.tmpdir(),
    linkTarget: await symlinkTarget(requested),
  });
}

/**
 * The folder an existing cluster at `requested` (absolute) lives in: its real path, or where a
 * dangling symlink there points, or `requested` itself when nothing is there. Creates nothing.
 */
export async function existingClusterDir(requested: string): Promise<string> {
  const real = await realpath(requested).catch(() => null);
  if (real !== null) return real;
  const target = await readlink(requested).catch(() => null);
  return target === null
    ? requested
    : path.resolve(path.dirname(requested), target);
}

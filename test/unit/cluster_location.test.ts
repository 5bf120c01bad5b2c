/**
 * Where a root-run local cluster keeps its data (planClusterDir), with a fake
 * "can the postgres user traverse this folder" predicate: the requested path
 * when postgres can reach its parent, else a folder keyed by the requested
 * path under the postgres home, else under the temp dir.
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  blockingAncestor,
  type LocationFacts,
  planClusterDir,
  relocatedName,
} from "../../backend/standalone/local_cluster/cluster_location";

/** A predicate under which postgres cannot search the `closed` folders, nor anything below them. */
function traversableExcept(
  ...closed: string[]
): (dir: string) => Promise<boolean> {
  return async (dir) =>
    !closed.some(
      (c) => dir === c || dir.startsWith(c.endsWith("/") ? c : `${c}/`),
    );
}

function facts(overrides: Partial<LocationFacts> = {}): LocationFacts {
  return {
    canTraverse: traversableExcept("/root"),
    postgresHome: "/var/lib/postgresql",
    tmpDir: "/tmp",
    linkTarget: null,
    ...overrides,
  };
}

const REQUESTED = "/root/rr/.data/cluster";

describe("planClusterDir", () => {
  it("keeps the requested path when postgres can reach its parent", async () => {
    const place = await planClusterDir(
      "/work/main/.data/cluster",
      facts({
        canTraverse: traversableExcept("/root", "/work/main/.data/cluster"),
      }),
    );
    expect(place).toEqual({
      dir: "/work/main/.data/cluster",
      relocatedBecause: null,
    });
  });

  it("moves the data under the postgres home, named after the requested path, and says why", async () => {
    const place = await planClusterDir(REQUESTED, facts());
    expect(place.relocatedBecause).toBe(
      "the postgres user cannot traverse /root",
    );
    expect(path.dirname(place.dir)).toBe("/var/lib/postgresql/replica-router");
    expect(path.basename(place.dir)).toMatch(/^cluster-[0-9a-f]{16}$/);
    expect(path.basename(place.dir)).toBe(relocatedName(REQUESTED));
  });

  it("picks the same folder for the same path every time, and another for another path", async () => {
    const first = await planClusterDir(REQUESTED, facts());
    expect((await planClusterDir(REQUESTED, facts())).dir).toBe(first.dir);
    expect(
      (await planClusterDir("/root/rr2/.data/cluster", facts())).dir,
    ).not.toBe(first.dir);
  });

  it("names the topmost folder postgres cannot traverse", async () => {
    const place = await planClusterDir(
      "/home/dev/tmp/x/cluster",
      facts({ canTraverse: traversableExcept("/home/dev", "/home/dev/tmp") }),
    );
    expect(place.relocatedBecause).toBe(
      "the postgres user cannot traverse /home/dev",
    );
  });

  it("falls back to the temp dir without a postgres home, or with one postgres cannot reach", async () => {
    const noHome = await planClusterDir(
      REQUESTED,
      facts({ postgresHome: null }),
    );
    expect(path.dirname(noHome.dir)).toBe("/tmp/replica-router");
    const closedHome = await planClusterDir(
      REQUESTED,
      facts({ canTraverse: traversableExcept("/root", "/var/lib/postgresql") }),
    );
    expect(closedHome.dir).toBe(noHome.dir);
  });

  it("fails naming the blocked folder when neither the home nor the temp dir will do", async () => {
    await expect(
      planClusterDir(
        REQUESTED,
        facts({ canTraverse: traversableExcept("/root", "/var/lib", "/tmp") }),
      ),
    ).rejects.toThrow(
      /cannot traverse \/root.*chmod o\+x \/root or pick another dir/,
    );
  });

  it("follows a symlink already at the requested path when postgres can reach where it leads", async () => {
    const reachable = await planClusterDir(
      REQUESTED,
      facts({ linkTarget: "/srv/pg/cluster" }),
    );
    expect(reachable).toEqual({
      dir: "/srv/pg/cluster",
      relocatedBecause: "the postgres user cannot traverse /root",
    });
    const unreachable = await planClusterDir(
      REQUESTED,
      facts({ linkTarget: "/root/elsewhere/cluster" }),
    );
    expect(path.dirname(unreachable.dir)).toBe(
      "/var/lib/postgresql/replica-router",
    );
  });

  it("does not count the requested folder itself (it is opened to postgres, as a mkdtemp folder is)", async () => {
    const place = await planClusterDir(
      "/tmp/rr-abc/cluster",
      facts({ canTraverse: traversableExcept("/tmp/rr-abc/cluster") }),
    );
    expect(place.relocatedBecause).toBeNull();
  });
});

describe("blockingAncestor", () => {
  it("is null when the whole path is traversable, else the topmost refused folder", async () => {
    expect(
      await blockingAncestor("/a/b/c", traversableExcept("/x")),
    ).toBeNull();
    expect(await blockingAncestor("/a/b/c", traversableExcept("/a/b"))).toBe(
      "/a/b",
    );
    expect(await blockingAncestor("/a/b/c", traversableExcept("/"))).toBe("/");
  });
});

/**
 * Carrying out cluster_location.ts's decision: the requested cluster folder,
 * or (as root, when the postgres user cannot reach it) a folder under
 * `<postgres home or tmp dir>/replica-router/` with the requested path made a
 * symlink to it. A relocated folder names the path that links to it in its
 * `linked_from` file; one whose link is gone (a caller removed only the link)
 * is deleted the next time a cluster is relocated, unless a server runs in it.
 */
import {
  chmod,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  realpath,
  rm,
  symlink,
  unlink,
  writeFile,
} from "node:fs/promises";
import { readState } from "./cluster_roster";
import path from "node:path";
import {
  existingClusterDir,
  localClusterLocation,
  relocatedName,
} from "./cluster_location";
import { prepareClusterDir } from "./data_dir";
import { pgCtlStatus } from "./pg_ctl";

/** In a relocated folder: the requested path that links to it. */
const LINKED_FROM = "linked_from";

/** The folder a cluster's paths are built from, and the symlink that leads to it, if any. */
export interface PreparedLocation {
  /** The real path of the cluster folder (exists, reachable by the postgres user). */
  dir: string;
  /** The requested path when it is a symlink to `dir`; null when the data is there itself. */
  link: string | null;
}

/**
 * Creates the cluster folder for `requested` (absolute) where the postgres user can reach it,
 * linking `requested` to it when that is elsewhere; returns its real path.
 * @throws Error when `requested` is something other than an old cluster folder that postgres
 * cannot reach, or from planClusterDir.
 */
export async function prepareClusterLocation(
  requested: string,
  log: (line: string) => void,
): Promise<PreparedLocation> {
  const place = await localClusterLocation(requested);
  if (place.relocatedBecause === null) {
    await prepareClusterDir(requested);
    return { dir: await realpath(requested), link: null };
  }
  const ours = path.basename(place.dir) === relocatedName(requested);
  if (ours) {
    const base = path.dirname(place.dir);
    await ensureBase(base);
    await sweepOrphans(base, place.dir);
  }
  // The link comes before the folder and its marker, so a sweep never takes a folder being made.
  await linkTo(requested, place.dir, place.relocatedBecause, log);
  await prepareClusterDir(place.dir);
  if (ours)
    await writeFile(path.join(place.dir, LINKED_FROM), `${requested}\n`);
  return { dir: await realpath(place.dir), link: requested };
}

/** Removes `folder` and, when `link` is a symlink (to it), the link; no error when gone. */
export async function removeClusterFolders(
  folder: string,
  link: string | null,
): Promise<void> {
  if (link !== null && (await lstat(link).catch(() => null))?.isSymbolicLink())
    await unlink(link);
  await rm(folder, { recursive: true, force: true });
}

/**
 * Removes the cluster folder `requested` (absolute) leads to and `requested` itself (a link,
 * or the folder). Stops nothing.
 */
export async function removeClusterAt(requested: string): Promise<void> {
  const real = await existingClusterDir(requested);
  // On a symlink, rm removes the link only.
  await rm(requested, { recursive: true, force: true });
  // The folder a link leads to goes only when it is a relocated cluster of
  // this path: a link of the user's own (to $HOME/data, say) keeps its target.
  if (real !== requested && (await linkedFrom(real)) === requested)
    await rm(real, { recursive: true, force: true });
}

/** The path a relocated cluster folder names as linking to it; "" when none. */
async function linkedFrom(dir: string): Promise<string> {
  return (
    await readFile(path.join(dir, LINKED_FROM), "utf8").catch(() => "")
  ).trim();
}

/**
 * Creates `base` (0755) if missing and checks that only root controls it.
 * @throws Error when it is not a folder of root's that only root can write.
 */
async function ensureBase(base: string): Promise<void> {
  await mkdir(base, { recursive: true, mode: 0o755 });
  const st = await lstat(base);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new Error(
      `local cluster: ${base} holds relocated clusters and must be a folder that only root can write; remove it`,
    );
  }
  await chmod(base, 0o755); // whatever the umask, the postgres user must get through
}

/** Makes `requested` a symlink to `target`, replacing an old link or an unreachable old cluster folder. */
async function linkTo(
  requested: string,
  target: string,
  because: string,
  log: (line: string) => void,
): Promise<void> {
  const linked = async (): Promise<boolean> => {
    const to = await readlink(requested).catch(() => null);
    if (to === null) return false;
    if (path.resolve(path.dirname(requested), to) === target) return true;
    return (await realpath(requested).catch(() => null)) === target;
  };
  const st = await lstat(requested).catch(() => null);
  if (st?.isSymbolicLink()) {
    if (await linked()) return;
    await unlink(requested); // dangling, or into a folder postgres cannot reach
  } else if (st) {
    await replaceUnreachable(requested, target, because, log);
  }
  await mkdir(path.dirname(requested), { recursive: true });
  try {
    await symlink(target, requested);
  } catch (err) {
    // Another process linking the same path at the same moment is fine.
    if ((err as NodeJS.ErrnoException).code !== "EEXIST" || !(await linked()))
      throw err;
  }
}

/**
 * Deletes `dir`, a folder the postgres user cannot reach, when it is empty or an old cluster
 * folder (cluster.json and node folders): no server of it can run.
 * @throws Error when it holds anything else, or a server of it still runs after all.
 */
async function replaceUnreachable(
  dir: string,
  target: string,
  because: string,
  log: (line: string) => void,
): Promise<void> {
  const entries = (await lstat(dir)).isDirectory()
    ? await readdir(dir, { withFileTypes: true })
    : null;
  // Only what this project writes: a cluster.json it can read, and folders
  // named after its nodes, each empty or a PostgreSQL data directory.
  const roster = await readState(dir).catch(() => null);
  const nodeNames = new Set(roster?.nodes.map((n) => n.name) ?? []);
  const isNodeFolder = async (name: string): Promise<boolean> => {
    const inside = await readdir(path.join(dir, name)).catch(() => null);
    return (
      inside !== null && (inside.length === 0 || inside.includes("PG_VERSION"))
    );
  };
  let clusterOnly = entries !== null && entries.length === 0;
  if (entries !== null && roster !== null) {
    clusterOnly = true;
    for (const e of entries) {
      if (e.name === "cluster.json" || e.name === "cluster.json.tmp") continue;
      if (
        e.isDirectory() &&
        nodeNames.has(e.name) &&
        (await isNodeFolder(e.name))
      )
        continue;
      clusterOnly = false;
    }
  }
  if (!clusterOnly || entries === null) {
    throw new Error(
      `local cluster: ${because}, and ${dir} holds more than a local cluster; move it away or pick another dir`,
    );
  }
  for (const e of entries)
    if (e.isDirectory() && (await livePostmaster(path.join(dir, e.name))))
      throw new Error(
        `local cluster: a server still runs in ${path.join(dir, e.name)}; stop it first`,
      );
  log(
    `${dir}: ${because}; replacing the cluster there with a link to ${target}`,
  );
  await rm(dir, { recursive: true, force: true });
}

/** Whether `dataDir`'s postmaster.pid names a live process (read as root: pg_ctl cannot get there). */
async function livePostmaster(dataDir: string): Promise<boolean> {
  const text = await readFile(
    path.join(dataDir, "postmaster.pid"),
    "utf8",
  ).catch(() => "");
  const pid = Number(text.split("\n")[0]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Deletes the relocated folders in `base` (but `keep`) whose requested path no longer links to them. */
async function sweepOrphans(base: string, keep: string): Promise<void> {
  for (const name of await readdir(base).catch(() => [] as string[])) {
    const dir = path.join(base, name);
    if (dir === keep || !name.startsWith("cluster-")) continue;
    const from = await linkedFrom(dir);
    if (from === "") continue; // being made (the marker comes last), or not ours
    // A checkout moved or renamed whole leaves its old path's folder gone:
    // its data stays (the link inside the moved checkout still leads here).
    if ((await lstat(path.dirname(from)).catch(() => null)) === null) continue;
    const real = await realpath(dir).catch(() => dir);
    if ((await realpath(from).catch(() => null)) === real) continue;
    if (await anyServerRuns(dir)) continue;
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

/** Whether a server runs in any node folder of `dir` (recorded or not). */
async function anyServerRuns(dir: string): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const dataDir = path.join(dir, e.name);
    if (!e.isDirectory()) continue;
    if ((await pgCtlStatus(dataDir)) === "running") return true;
  }
  return false;
}

/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per
 * function and per area of the code. Self time is the sum of the sample
 * intervals (timeDeltas) spent in a frame itself, not in its callees.
 *
 * Usage on its own: `npx tsx scripts/bench/profile.ts <file.cpuprofile> [top] [fromUs toUs]`.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** One row of the summary. */
export interface HotSpot {
  /** Function name as V8 reports it ("(anonymous)" for unnamed). */
  fn: string;
  /** `file:line` (repository-relative; line of the definition in the .ts source when found). */
  location: string;
  area: string;
  selfMs: number;
  /** Share of all sampled time (idle excluded). */
  share: number;
}

/** Result of {@link summarizeProfile}. */
export interface ProfileSummary {
  totalMs: number;
  top: HotSpot[];
  byArea: Array<{ area: string; selfMs: number; share: number }>;
}

/** Which part of the stack a frame belongs to. */
function areaOf(frame: CallFrame): string {
  const u = frame.url;
  if (u === "")
    return frame.functionName.startsWith("(")
      ? frame.functionName
      : "V8 / native";
  if (u.includes("/backend/database/router/"))
    return "router core (backend/database/router)";
  if (u.includes("/backend/database/metrics/"))
    return "RouterMetrics (backend/database/metrics/)";
  if (u.includes("/node_modules/prom-client/")) return "prom-client";
  if (u.includes("/scripts/bench/")) return "bench loop + fake pool";
  if (u.startsWith("node:")) return "Node.js internals";
  if (u.includes("/node_modules/")) return "other node_modules";
  return "other";
}

const sourceCache = new Map<string, string[] | null>();

/**
 * The 1-based line where `fn` is defined in the original source at `file`,
 * or null. V8's line numbers refer to tsx's transpiled output, so the
 * definition is looked up by name in the .ts file instead.
 */
function definitionLine(file: string, fn: string): number | null {
  if (!/^[A-Za-z_$][\w$]*( [A-Za-z_$][\w$]*)?$/.test(fn)) return null;
  let lines = sourceCache.get(file);
  if (lines === undefined) {
    try {
      lines = readFileSync(file, "utf8").split("\n");
    } catch {
      lines = null;
    }
    sourceCache.set(file, lines);
  }
  if (lines === null) return null;
  const [first, second] = fn.split(" ");
  const name = second ?? first!; // "get state" -> accessor "state"
  const accessor = second !== undefined ? `${first}\\s+` : "";
  const patterns = [
    new RegExp(`^\\s*(?:export\\s+)?(?:async\\s+)?function\\*?\\s+${name}\\b`),
    new RegExp(
      `^\\s*(?:(?:public|private|protected|static|readonly|override|async)\\s+)*${accessor}\\*?${name}\\s*(?:<[^>]*>)?\\(`,
    ),
    new RegExp(`^\\s*(?:export\\s+)?(?:const|let)\\s+${name}\\s*(?::[^=]+)?=`),
    new RegExp(`^\\s*${name}\\s*[:(]`),
  ];
  for (const re of patterns) {
    const i = lines.findIndex((l) => re.test(l));
    if (i >= 0) return i + 1;
  }
  return null;
}

function locate(frame: CallFrame, repoRoot: string): string {
  const u = frame.url;
  if (u === "") return "";
  if (u.startsWith("node:")) return `${u}:${frame.lineNumber + 1}`;
  let file: string;
  try {
    file = u.startsWith("file:") ? fileURLToPath(u) : u;
  } catch {
    return u;
  }
  const rel = path.relative(repoRoot, file);
  if (rel.startsWith("node_modules")) return `${rel}:${frame.lineNumber + 1}`;
  const line = file.endsWith(".ts")
    ? definitionLine(file, frame.functionName)
    : null;
  return line !== null
    ? `${rel}:${line}`
    : `${rel} (js line ${frame.lineNumber + 1})`;
}

/**
 * Self time per function (top `top`) and per area, from a `.cpuprofile`
 * file; only samples inside `window` (µs of the monotonic clock, as
 * `process.hrtime`) when given.
 */
export function summarizeProfile(
  file: string,
  repoRoot: string,
  top = 15,
  window?: { fromUs: number; toUs: number },
): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; attribute it to sample i's frame.
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = Math.max(0, profile.timeDeltas[i] ?? 0);
    t += delta;
    if (window !== undefined && (t < window.fromUs || t > window.toUs))
      continue;
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const perFn = new Map<string, { frame: CallFrame; us: number }>();
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined || frame.functionName === "(idle)") continue;
    totalUs += us;
    const key = `${frame.functionName}\u0000${frame.url}\u0000${frame.lineNumber}`;
    const entry = perFn.get(key);
    if (entry === undefined) perFn.set(key, { frame, us });
    else entry.us += us;
  }
  const areas = new Map<string, number>();
  for (const { frame, us } of perFn.values())
    areas.set(areaOf(frame), (areas.get(areaOf(frame)) ?? 0) + us);
  const hot = [...perFn.values()].sort((a, b) => b.us - a.us).slice(0, top);
  return {
    totalMs: totalUs / 1000,
    top: hot.map(({ frame, us }) => ({
      fn: frame.functionName === "" ? "(anonymous)" : frame.functionName,
      location: locate(frame, repoRoot),
      area: areaOf(frame),
      selfMs: us / 1000,
      share: totalUs > 0 ? us / totalUs : 0,
    })),
    byArea: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => ({
        area,
        selfMs: us / 1000,
        share: totalUs > 0 ? us / totalUs : 0,
      })),
  };
}

const invokedDirectly =
  process.argv[1] !== undefined &&
  path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const file = process.argv[2];
  if (file === undefined) {
    console.error(
      "usage: tsx scripts/bench/profile.ts <file.cpuprofile> [top] [fromUs toUs]",
    );
    process.exit(2);
  }
  const from = process.argv[4];
  const to = process.argv[5];
  const window =
    from !== undefined && to !== undefined
      ? { fromUs: Number(from), toUs: Number(to) }
      : undefined;
  const s = summarizeProfile(
    file,
    process.cwd(),
    Number(process.argv[3] ?? 20),
    window,
  );
  console.log(`total sampled: ${s.totalMs.toFixed(0)} ms`);
  for (const h of s.top)
    console.log(
      `${(100 * h.share).toFixed(1).padStart(5)} %  ${h.selfMs.toFixed(1).padStart(8)} ms  ${h.fn}  ${h.location}`,
    );
  console.log("\nby area:");
  for (const a of s.byArea)
    console.log(`${(100 * a.share).toFixed(1).padStart(5)} %  ${a.area}`);
}

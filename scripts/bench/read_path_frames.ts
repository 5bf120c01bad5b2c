/**
 * Where the read path's client CPU goes, variant against variant: one V8 CPU
 * profile (inspector, 100 µs samples) over interleaved segments, so every
 * variant is sampled under the same machine noise. Each sample is charged
 * to the variant whose segment it fell in, and to its nearest JavaScript
 * frame (a builtin such as a Map lookup or a Promise reaction counts for
 * the function that called it). Left out: idle time, and the native
 * `writev` (a socket write is where the kernel most often preempts this
 * process for the server it just woke, so its samples are mostly waiting).
 * Used by read_path_profile.ts.
 */
import { Session } from "node:inspector/promises";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** One timed segment of a variant (µs of the profiler's monotonic clock). */
interface Window {
  variant: string;
  fromUs: number;
  toUs: number;
  reads: number;
}

/** Sampled µs per read of one variant, by area and by function. */
export interface VariantFrames {
  reads: number;
  totalUs: number;
  byArea: Map<string, number>;
  byFrame: Map<string, number>;
}

const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * Runs `rounds` rounds of one `segmentMs` segment per variant (shuffled)
 * under the profiler; returns each variant's sampled time per read.
 */
export async function profileInterleaved(
  names: readonly string[],
  rounds: number,
  runSegment: (name: string) => Promise<number>,
  shuffle: (xs: readonly string[]) => string[],
): Promise<Map<string, VariantFrames>> {
  const session = new Session();
  session.connect();
  const windows: Window[] = [];
  try {
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 100 });
    await session.post("Profiler.start");
    for (let r = 0; r < rounds; r++) {
      for (const name of shuffle(names)) {
        const fromUs = monotonicUs();
        const reads = await runSegment(name);
        windows.push({ variant: name, fromUs, toUs: monotonicUs(), reads });
      }
    }
    const { profile } = await session.post("Profiler.stop");
    return attribute(profile as CpuProfile, windows);
  } finally {
    session.disconnect();
  }
}

function attribute(
  profile: CpuProfile,
  windows: Window[],
): Map<string, VariantFrames> {
  const out = new Map<string, VariantFrames>();
  for (const w of windows) {
    const v = out.get(w.variant) ?? {
      reads: 0,
      totalUs: 0,
      byArea: new Map<string, number>(),
      byFrame: new Map<string, number>(),
    };
    v.reads += w.reads;
    out.set(w.variant, v);
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes)
    for (const c of n.children ?? []) parent.set(c, n.id);
  let t = profile.startTime;
  let w = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = Math.max(0, profile.timeDeltas[i] ?? 0);
    t += delta;
    while (w < windows.length && windows[w]!.toUs < t) w++;
    const win = windows[w];
    if (win === undefined || t < win.fromUs) continue;
    let node = byId.get(profile.samples[i]!)!;
    const leaf = node.callFrame.functionName;
    if (leaf === "(idle)" || leaf === "writev") continue;
    // Builtins and natives go to the JavaScript function that called them.
    while (node.callFrame.url === "" && parent.has(node.id))
      node = byId.get(parent.get(node.id)!)!;
    const f = node.callFrame;
    const area = areaOf(f.url, leaf);
    const key = `${area}\t${f.functionName || "(anonymous)"}\t${shortUrl(f.url)}:${f.lineNumber + 1}`;
    const v = out.get(win.variant)!;
    v.totalUs += delta;
    v.byArea.set(area, (v.byArea.get(area) ?? 0) + delta);
    v.byFrame.set(key, (v.byFrame.get(key) ?? 0) + delta);
  }
  return out;
}

function areaOf(url: string, leaf: string): string {
  if (url === "") return leaf; // (program), (garbage collector)
  if (url.includes("/backend/database/router/")) return "router";
  if (url.includes("/backend/database/")) return "metrics";
  for (const m of ["pg-pool", "pg-protocol", "pg", "prom-client"])
    if (url.includes(`/node_modules/${m}/`)) return m;
  if (url.includes("/scripts/bench/")) return "bench loop";
  if (url.startsWith("node:")) return "node";
  return "other";
}

function shortUrl(url: string): string {
  return url
    .replace(/^.*\/(node_modules|backend)\//, "")
    .replace(/^.*\/scripts\//, "scripts/")
    .replace("node:internal/", "node:");
}

/** Prints µs per read by area for each variant, and the frames where `subject` spends most beyond `base`. */
export function printFrames(
  frames: Map<string, VariantFrames>,
  subject: string,
  base: string,
  top = 20,
): void {
  const per = (v: VariantFrames, us: number) =>
    v.reads > 0 ? us / v.reads : 0;
  const areas = new Set<string>();
  for (const v of frames.values())
    for (const a of v.byArea.keys()) areas.add(a);
  const names = [...frames.keys()];
  console.log(`sampled µs/read\t${names.join("\t")}`);
  const row = (label: string, f: (v: VariantFrames) => number) =>
    console.log(
      `${label}\t${names.map((n) => f(frames.get(n)!).toFixed(2)).join("\t")}`,
    );
  row("total", (v) => per(v, v.totalUs));
  for (const a of [...areas].sort())
    row(`  ${a}`, (v) => per(v, v.byArea.get(a) ?? 0));
  const s = frames.get(subject)!;
  const b = frames.get(base)!;
  const keys = new Set([...s.byFrame.keys(), ...b.byFrame.keys()]);
  const diffs = [...keys]
    .map((k) => ({
      k,
      s: per(s, s.byFrame.get(k) ?? 0),
      b: per(b, b.byFrame.get(k) ?? 0),
    }))
    .sort((x, y) => y.s - y.b - (x.s - x.b))
    .slice(0, top);
  console.log(`\ntop frames of ${subject} (self, µs/read)`);
  for (const [k, us] of [...s.byFrame]
    .sort((x, y) => y[1] - x[1])
    .slice(0, top))
    console.log(`${per(s, us).toFixed(2)}\t${k}`);
  console.log(`\n${subject} − ${base}\t${subject}\t${base}\tframe`);
  for (const d of diffs)
    console.log(
      `${(d.s - d.b).toFixed(2)}\t${d.s.toFixed(2)}\t${d.b.toFixed(2)}\t${d.k}`,
    );
}

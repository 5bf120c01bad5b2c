import { z } from "zod";

/*
 * The control state of a fleet: one entry per setting an admin changed, as
 * stored in router_control_state (migration 3). Keys are text so the table
 * stays readable with psql; values are checked with zod when loaded, so a
 * row written by a newer or older version that this one does not understand
 * is skipped (and reported), never half-applied.
 */

/** A setting an admin can change, by kind. */
export type ControlKey =
  | { readonly kind: "reads" }
  | { readonly kind: "reads_endpoint"; readonly endpoint: string }
  | { readonly kind: "cache" }
  | { readonly kind: "cache_endpoint"; readonly endpoint: string }
  | {
      readonly kind: "circuit";
      readonly cluster: string;
      readonly name: string;
    }
  | {
      readonly kind: "replica";
      readonly cluster: string;
      readonly name: string;
    };

/** `{ enabled }` of the four switches. */
export const switchValue = z.object({ enabled: z.boolean() }).strict();
/** A circuit forced open (`open: true`) or closed by an admin. */
export const circuitValue = z.object({ open: z.boolean() }).strict();
/**
 * A replica added (`present: true`, with its weight and zone; the URL is in
 * its own column) or removed (`present: false`, also for replicas from the
 * environment, so instances that start later leave it out too).
 */
export const replicaValue = z
  .object({
    present: z.boolean(),
    weight: z.number().int().min(1).max(1000).optional(),
    zone: z.string().max(100).nullable().optional(),
  })
  .strict();

export type SwitchValue = z.infer<typeof switchValue>;
export type CircuitValue = z.infer<typeof circuitValue>;
export type ReplicaValue = z.infer<typeof replicaValue>;

/** One stored setting, as loaded and checked; `kind` tells which value it holds. */
export type ControlEntry =
  | {
      readonly kind: "switch";
      readonly key: ControlKey & {
        kind: "reads" | "reads_endpoint" | "cache" | "cache_endpoint";
      };
      readonly value: SwitchValue;
      readonly version: number;
    }
  | {
      readonly kind: "circuit";
      readonly key: ControlKey & { kind: "circuit" };
      readonly value: CircuitValue;
      readonly version: number;
    }
  | {
      readonly kind: "replica";
      readonly key: ControlKey & { kind: "replica" };
      readonly value: ReplicaValue;
      readonly version: number;
      /** The URL of a replica added at run time; never returned or logged. */
      readonly connectionString: string | null;
    };

/** The text of `key` as stored: `reads`, `cache:finance.sumRevenues`, `replica:main:replica_3`. */
export function keyText(key: ControlKey): string {
  switch (key.kind) {
    case "reads":
    case "cache":
      return key.kind;
    case "reads_endpoint":
      return `reads:${key.endpoint}`;
    case "cache_endpoint":
      return `cache:${key.endpoint}`;
    case "circuit":
    case "replica":
      return `${key.kind}:${key.cluster}:${key.name}`;
  }
}

/** The key of a stored text; null when it is not one this version knows. */
export function parseKey(text: string): ControlKey | null {
  const [kind, a, b, ...rest] = text.split(":");
  if (rest.length > 0) return null;
  if ((kind === "reads" || kind === "cache") && a === undefined)
    return { kind };
  if ((kind === "reads" || kind === "cache") && a !== "" && b === undefined)
    return {
      kind: kind === "reads" ? "reads_endpoint" : "cache_endpoint",
      endpoint: a!,
    };
  if (
    (kind === "circuit" || kind === "replica") &&
    a !== undefined &&
    a !== "" &&
    b !== undefined &&
    b !== ""
  )
    return { kind, cluster: a, name: b };
  return null;
}

/**
 * A stored row as a checked entry; null (with the reason) when the key or
 * the value is not one this version understands.
 */
export function parseEntry(row: {
  key: string;
  value: unknown;
  version: number;
  connectionString: string | null;
}): { entry: ControlEntry } | { skipped: string } {
  const key = parseKey(row.key);
  if (key === null) return { skipped: "unknown key" };
  const version = row.version;
  if (key.kind === "circuit") {
    const parsed = circuitValue.safeParse(row.value);
    if (!parsed.success) return { skipped: "value not understood" };
    return { entry: { kind: "circuit", key, value: parsed.data, version } };
  }
  if (key.kind === "replica") {
    const parsed = replicaValue.safeParse(row.value);
    if (!parsed.success) return { skipped: "value not understood" };
    if (parsed.data.present && row.connectionString === null)
      return { skipped: "added replica without a connection string" };
    return {
      entry: {
        kind: "replica",
        key,
        value: parsed.data,
        version,
        connectionString: row.connectionString,
      },
    };
  }
  const parsed = switchValue.safeParse(row.value);
  if (!parsed.success) return { skipped: "value not understood" };
  return { entry: { kind: "switch", key, value: parsed.data, version } };
}

/** The stored rows this version understands, as checked entries; `skipped` hears of each other row (its key cut to 100 characters). */
export function parseEntries(
  rows: readonly Parameters<typeof parseEntry>[0][],
  skipped: (key: string, reason: string) => void,
): ControlEntry[] {
  const entries: ControlEntry[] = [];
  for (const row of rows) {
    const parsed = parseEntry(row);
    if ("entry" in parsed) entries.push(parsed.entry);
    else skipped(row.key.slice(0, 100), parsed.skipped);
  }
  return entries;
}

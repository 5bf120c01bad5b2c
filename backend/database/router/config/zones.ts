import type { ReplicaConfig } from "./config";

/** A zone name: an availability zone or region label such as `eu-west-1a`. */
export const ZONE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * One zone setting (SERVICE_ZONE, PRIMARY_ZONE): null when unset.
 * Adds an issue naming `variable` when malformed.
 */
export function parseZone(
  variable: string,
  raw: string | undefined,
  issues: string[],
): string | null {
  const v = (raw ?? "").trim();
  if (v === "") return null;
  if (!ZONE_RE.test(v)) {
    issues.push(
      `${variable}: expected a zone name (letters, digits, . _ -; up to 63), got ${JSON.stringify(v)}`,
    );
    return null;
  }
  return v;
}

/**
 * READ_REPLICA_ZONES: one entry per replica, in READ_REPLICA_URLS order
 * (`eu-west-1a,,eu-west-1b`: an empty entry keeps its place), or `name=zone`
 * pairs (`replica_2=eu-west-1b`); replicas without an entry have no zone; a
 * replica given two zones is an error.
 * @returns the zone of each replica, by index.
 */
export function parseReplicaZones(
  variable: string,
  raw: readonly string[],
  replicas: readonly ReplicaConfig[],
  issues: string[],
): (string | null)[] {
  const zones: (string | null)[] = replicas.map(() => null);
  const assigned = new Set<number>();
  raw.forEach((item, i) => {
    if (item === "") {
      if (i >= replicas.length)
        issues.push(
          `${variable}[${i + 1}]: no replica "#${i + 1}" is configured`,
        );
      return; // that replica has no zone
    }
    const m = /^(?:([a-z0-9_]+)=)?(.+)$/.exec(item);
    const zone = m?.[2]?.trim() ?? "";
    if (!m || !ZONE_RE.test(zone)) {
      issues.push(
        `${variable}[${i + 1}]: expected a zone name or replica_N=zone, got ${JSON.stringify(item)}`,
      );
      return;
    }
    const index =
      m[1] === undefined ? i : replicas.findIndex((r) => r.name === m[1]);
    if (index < 0 || index >= replicas.length) {
      issues.push(
        `${variable}[${i + 1}]: no replica "${m[1] ?? `#${i + 1}`}" is configured`,
      );
      return;
    }
    if (assigned.has(index)) {
      issues.push(
        `${variable}[${i + 1}]: ${replicas[index]!.name} already has a zone`,
      );
      return;
    }
    assigned.add(index);
    zones[index] = zone;
  });
  return zones;
}

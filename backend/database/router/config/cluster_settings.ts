import {
  isPostgresUrl,
  MAIN_CLUSTER,
  type ClusterConfig,
  type OrgRangeConfig,
  type ReplicaConfig,
} from "./config";
import { z } from "zod";
import { mustRunOnPrimary } from "../sql/primary_only_functions";
import { ZONE_RE } from "./zones";
import {
  type Consistency,
  EVENTUAL,
  parseConsistencyHeader,
} from "../consistency/consistency";

/*
 * The connection settings (DATABASE_URL, READ_REPLICA_*, DB_CLUSTERS,
 * ORG_RANGES) and the list-valued ones that need more than a schema
 * (REPLICA_WEIGHTS, READ_ONLY_FUNCTIONS). Each adds issues naming the
 * variable; connection strings never appear in them.
 */

const NAME_RE = /^[a-z][a-z0-9_]{0,62}$/;

export function parseClusters(
  env: Record<string, string | undefined>,
  issues: string[],
): ClusterConfig[] {
  const primaryUrl = env.DATABASE_URL ?? "";
  if (primaryUrl === "")
    issues.push(
      "DATABASE_URL: is required (postgres://user:password@host:port/db)",
    );
  else if (!isPostgresUrl(primaryUrl))
    issues.push("DATABASE_URL: not a postgres:// URL (value not shown)");

  let replicaUrls: string[];
  let source: string;
  if (
    env.READ_REPLICA_URLS !== undefined &&
    env.READ_REPLICA_URLS.trim() !== ""
  ) {
    replicaUrls = env.READ_REPLICA_URLS.split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
    source = "READ_REPLICA_URLS";
  } else {
    // READ_REPLICA_<N>_CONNECTION_STRING, in N order; gaps are fine.
    replicaUrls = Object.entries(env)
      .map(
        ([k, v]) =>
          [/^READ_REPLICA_(\d+)_CONNECTION_STRING$/.exec(k)?.[1], v] as const,
      )
      .filter(
        (kv): kv is readonly [string, string] =>
          kv[0] !== undefined && (kv[1] ?? "") !== "",
      )
      .sort((a, b) => Number(a[0]) - Number(b[0]))
      .map(([, v]) => v.trim());
    source = "READ_REPLICA_<N>_CONNECTION_STRING";
  }
  replicaUrls.forEach((url, i) => {
    if (!isPostgresUrl(url))
      issues.push(
        `${source}[${i + 1}]: not a postgres:// URL (value not shown)`,
      );
  });
  const clusters: ClusterConfig[] = [
    {
      name: MAIN_CLUSTER,
      primaryUrl,
      replicas: replicaUrls.map((url, i) => ({
        name: `replica_${i + 1}`,
        url,
        weight: 1,
      })),
    },
  ];

  const extra = parseJson(env, "DB_CLUSTERS", issues);
  if (extra !== undefined) {
    const schema = z.record(
      z
        .string()
        .regex(NAME_RE, "cluster names are lower-case letters, digits and _"),
      z
        .object({
          primaryUrl: z.string(),
          replicaUrls: z.array(z.string()).default([]),
          primaryZone: z.string().regex(ZONE_RE, "not a zone name").optional(),
          replicaZones: z
            .array(z.string().regex(ZONE_RE, "not a zone name"))
            .optional(),
        })
        .strict(),
    );
    const r = schema.safeParse(extra);
    if (!r.success) {
      for (const i of r.error.issues)
        issues.push(`DB_CLUSTERS.${i.path.join(".")}: ${i.message}`);
    } else {
      for (const [name, c] of Object.entries(r.data)) {
        if (name === MAIN_CLUSTER)
          issues.push(
            `DB_CLUSTERS.${name}: "main" is the DATABASE_URL cluster`,
          );
        if (!isPostgresUrl(c.primaryUrl))
          issues.push(`DB_CLUSTERS.${name}.primaryUrl: not a postgres:// URL`);
        c.replicaUrls.forEach((u, i) => {
          if (!isPostgresUrl(u))
            issues.push(
              `DB_CLUSTERS.${name}.replicaUrls[${i}]: not a postgres:// URL`,
            );
        });
        if ((c.replicaZones?.length ?? 0) > c.replicaUrls.length)
          issues.push(
            `DB_CLUSTERS.${name}.replicaZones: more zones than replicaUrls`,
          );
        clusters.push({
          name,
          primaryUrl: c.primaryUrl,
          primaryZone: c.primaryZone ?? null,
          replicas: c.replicaUrls.map((url, i) => ({
            name: `replica_${i + 1}`,
            url,
            weight: 1,
            zone: c.replicaZones?.[i] ?? null,
          })),
        });
      }
    }
  }
  return clusters;
}

export function parseOrgRanges(
  env: Record<string, string | undefined>,
  clusters: readonly ClusterConfig[],
  issues: string[],
): OrgRangeConfig[] {
  const raw = parseJson(env, "ORG_RANGES", issues);
  if (raw === undefined)
    return [
      { minOrgId: 0, maxOrgId: Number.MAX_SAFE_INTEGER, cluster: MAIN_CLUSTER },
    ];
  const schema = z.array(
    z
      .object({
        minOrgId: z.number().int().nonnegative(),
        maxOrgId: z.number().int().nonnegative(),
        cluster: z.string(),
      })
      .strict(),
  );
  const r = schema.safeParse(raw);
  if (!r.success) {
    for (const i of r.error.issues)
      issues.push(`ORG_RANGES.${i.path.join(".")}: ${i.message}`);
    return [];
  }
  const names = new Set(clusters.map((c) => c.name));
  r.data.forEach((range, i) => {
    if (!names.has(range.cluster))
      issues.push(
        `ORG_RANGES[${i}].cluster: unknown cluster "${range.cluster}"`,
      );
  });
  return r.data;
}

export function parseWeights(
  raw: readonly string[],
  replicas: readonly ReplicaConfig[],
  issues: string[],
): number[] {
  const weights = replicas.map(() => 1);
  raw.forEach((item, i) => {
    const m = /^(?:([a-z0-9_]+)=)?(\d+)$/.exec(item);
    const weight = m ? Number(m[2]) : NaN;
    if (!m || !(weight >= 1 && weight <= 1000)) {
      issues.push(
        `REPLICA_WEIGHTS[${i + 1}]: expected an integer weight 1..1000 or name=weight, got "${item}"`,
      );
      return;
    }
    const index =
      m[1] === undefined ? i : replicas.findIndex((r) => r.name === m[1]);
    if (index < 0 || index >= replicas.length) {
      issues.push(
        `REPLICA_WEIGHTS[${i + 1}]: no replica "${m[1] ?? `#${i + 1}`}" is configured`,
      );
      return;
    }
    weights[index] = weight;
  });
  return weights;
}

const FUNCTION_NAME_RE =
  /^(?:[a-z_][a-z0-9_$]{0,62}\.)?[a-z_][a-z0-9_$]{0,62}$/;

/** READ_ONLY_FUNCTIONS: `name` or `schema.name` each, lower-cased, no built-in the primary must run. */
export function parseReadOnlyFunctions(
  raw: readonly string[],
  issues: string[],
): string[] {
  const names: string[] = [];
  raw.forEach((item, i) => {
    const name = item.toLowerCase();
    if (!FUNCTION_NAME_RE.test(name)) {
      issues.push(
        `READ_ONLY_FUNCTIONS[${i + 1}]: expected a function name or schema.name (letters, digits, _ and $; unquoted), got ${JSON.stringify(item)}`,
      );
    } else if (mustRunOnPrimary(name.slice(name.indexOf(".") + 1))) {
      issues.push(
        `READ_ONLY_FUNCTIONS[${i + 1}]: ${name} is named like a built-in that always runs on the primary (a standby refuses it, or it acts on one node's state); it cannot be listed`,
      );
    } else names.push(name);
  });
  return names;
}

/** An endpoint name as the admin switches take it: `service.endpointName`. */
const ENDPOINT_RE = /^[a-z][A-Za-z0-9_]{0,62}\.[a-z][A-Za-z0-9_]{0,62}$/;

/**
 * DEFAULT_READ_CONSISTENCY and READ_CONSISTENCY_ENDPOINTS: the consistency
 * of a read that names none, overall and per endpoint (same words as the
 * X-Consistency header).
 */
export function parseReadDefaults(
  env: Record<string, string | undefined>,
  issues: string[],
): { fallback: Consistency; endpoints: Map<string, Consistency> } {
  const level = (text: string, field: string): Consistency | null => {
    try {
      return parseConsistencyHeader(text, field);
    } catch {
      issues.push(
        `${field}: expected strong, eventual or bounded=<seconds>, got ${JSON.stringify(text)}`,
      );
      return null;
    }
  };
  const raw = (env.DEFAULT_READ_CONSISTENCY ?? "").trim();
  const fallback =
    (raw === "" ? null : level(raw, "DEFAULT_READ_CONSISTENCY")) ?? EVENTUAL;
  const endpoints = new Map<string, Consistency>();
  const list = (env.READ_CONSISTENCY_ENDPOINTS ?? "").trim();
  if (list !== "")
    list.split(",").forEach((item, i) => {
      if (item.trim() === "") return; // as every list setting: empty entries are skipped
      const field = `READ_CONSISTENCY_ENDPOINTS[${i + 1}]`;
      const at = item.indexOf("=");
      const endpoint = item.slice(0, Math.max(at, 0)).trim();
      if (at < 0 || !ENDPOINT_RE.test(endpoint)) {
        issues.push(
          `${field}: expected endpoint=level (finance.listRevenues=eventual), got ${JSON.stringify(item.trim())}`,
        );
        return;
      }
      if (endpoints.has(endpoint)) {
        issues.push(`${field}: ${endpoint} is listed twice`);
        return;
      }
      const c = level(item.slice(at + 1), field);
      if (c !== null) endpoints.set(endpoint, c);
    });
  return { fallback, endpoints };
}

function parseJson(
  env: Record<string, string | undefined>,
  name: string,
  issues: string[],
): unknown {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    issues.push(`${name}: not valid JSON`);
    return undefined;
  }
}

export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

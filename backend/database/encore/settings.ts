import { z } from "zod";
import { ConfigError, isPostgresUrl, ZONE_RE } from "../router/index";

/**
 * The values of the app's Encore secrets, as `secret(name)()` returns them:
 * `""` when unset (Encore returns `""` for a missing secret locally; the edge
 * turns the "secret X is not set" error of other environments into `""`).
 *
 * Declared in backend/database/encore/service.ts with `CursorSecret` (read by
 * `CursorCodec.fromSecretOrSetting`); set
 * with `encore secret set --type <env> <Name>`, in `.secrets.local.cue` for
 * `encore run`, or under `"secrets"` in a self-hosted `infra.config.json`.
 * Encore Cloud refuses to deploy while a declared secret has no value:
 * `AdminToken`, `ReplicaUrls` and `MonitoringToken` have a value that means
 * "off" (`disabled`, `[]`, `open`); `CursorSecret` needs a real key (docs/provisioning.md).
 */
export interface EncoreSecretValues {
  /** `AdminToken`: the admin API's bearer token; `disabled` turns the admin API off. */
  readonly adminToken: string;
  /**
   * `ReplicaUrls`: replicas beyond the declared `replica_N` databases; a
   * comma list, a JSON array (of URLs or `{ "url", "zone" }`), or
   * `{ "serviceZone", "replicas": [...] }`; `[]` for none.
   */
  readonly replicaUrls: string;
  /**
   * `MonitoringToken`: when set, every monitoring endpoint but health needs it
   * (bearer token or the dashboard's login); `open` leaves them open, with
   * node addresses shown to admin-token holders only.
   */
  readonly monitoringToken: string;
}

/** The value of `MonitoringToken` that leaves the monitoring endpoints open. */
export const MONITORING_OPEN = "open";

/** Connection strings of the declared `SQLDatabase`s (Encore's proxy URLs). */
export interface DeclaredDatabases {
  readonly primaryUrl: string;
  readonly replicaUrls: readonly string[];
}

/** Shortest admin token accepted (as ADMIN_TOKEN). */
const MIN_ADMIN_TOKEN_LENGTH = 16;

/** The value of `AdminToken` that turns the admin API off. */
export const ADMIN_API_DISABLED = "disabled";

/**
 * The environment `loadConfig` reads under Encore: the declared databases'
 * connection strings as `DATABASE_URL` and the first replicas, then the
 * extra replicas and the admin token from the Encore secrets. A secret that
 * is set wins over the environment variable of the same meaning
 * (`READ_REPLICA_URLS`, `ADMIN_TOKEN`), which
 * `encore run` still passes from the shell; every other setting keeps
 * coming from the environment, exactly as standalone.
 *
 * Pure (no Encore import), so it is unit-tested without the runtime.
 *
 * @throws {ConfigError} naming the secret when `ReplicaUrls` is malformed;
 *   never echoes a value.
 */
export function encoreEnvironment(
  env: Readonly<Record<string, string | undefined>>,
  secrets: EncoreSecretValues,
  declared: DeclaredDatabases,
): Record<string, string | undefined> {
  const issues: string[] = [];
  const fromSecret = parseReplicaUrls(secrets.replicaUrls.trim(), issues);
  if (issues.length > 0) throw new ConfigError(issues);
  const extra =
    fromSecret?.urls ??
    (env.READ_REPLICA_URLS ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
  const out: Record<string, string | undefined> = {
    ...env,
    DATABASE_URL: declared.primaryUrl,
    READ_REPLICA_URLS: [...declared.replicaUrls, ...extra].join(","),
  };
  if (fromSecret !== null) {
    // Zones of the secret's replicas (named after the declared ones), after
    // any READ_REPLICA_ZONES entries for the declared databases.
    const named = fromSecret.zones.flatMap((zone, i) =>
      zone === null
        ? []
        : [`replica_${declared.replicaUrls.length + i + 1}=${zone}`],
    );
    if (named.length > 0)
      out.READ_REPLICA_ZONES = [env.READ_REPLICA_ZONES ?? "", ...named]
        .filter((s) => s.trim() !== "")
        .join(",");
    // A deployment's own SERVICE_ZONE wins: one secret serves every zone.
    if (
      fromSecret.serviceZone !== null &&
      (env.SERVICE_ZONE ?? "").trim() === ""
    )
      out.SERVICE_ZONE = fromSecret.serviceZone;
  }
  const token = secrets.adminToken.trim();
  if (token.toLowerCase() === ADMIN_API_DISABLED) delete out.ADMIN_TOKEN;
  else if (token !== "") {
    if (token.length < MIN_ADMIN_TOKEN_LENGTH)
      throw new ConfigError([
        `AdminToken (secret): must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters, or "${ADMIN_API_DISABLED}" (value not shown)`,
      ]);
    out.ADMIN_TOKEN = token;
  }
  const monitoring = secrets.monitoringToken.trim();
  if (monitoring.toLowerCase() === MONITORING_OPEN) delete out.MONITORING_TOKEN;
  else if (monitoring !== "") {
    if (monitoring.length < MIN_ADMIN_TOKEN_LENGTH)
      throw new ConfigError([
        `MonitoringToken (secret): must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters, or "${MONITORING_OPEN}" (value not shown)`,
      ]);
    out.MONITORING_TOKEN = monitoring;
  }
  return out;
}

/** What the `ReplicaUrls` secret describes. */
interface ReplicaTopology {
  /** Null when the secret names no replicas (then READ_REPLICA_URLS applies). */
  urls: string[] | null;
  /** Zone of each URL, when given. */
  zones: (string | null)[];
  serviceZone: string | null;
}

const ENTRY = z.union([
  z.string(),
  z.object({ url: z.string(), zone: z.string().optional() }).strict(),
]);
const TOPOLOGY = z.union([
  z.array(ENTRY),
  z
    .object({
      serviceZone: z.string().optional(),
      replicas: z.array(ENTRY).optional(),
    })
    .strict(),
]);

/**
 * The replicas in `ReplicaUrls`, or null when the secret is empty (use the
 * environment). Forms: a comma list of URLs; a JSON array of URLs or
 * `{ "url", "zone" }` objects; or `{ "serviceZone", "replicas": [...] }`
 * (zones for Encore Cloud, where environment variables cannot be set).
 */
function parseReplicaUrls(
  raw: string,
  issues: string[],
): ReplicaTopology | null {
  if (raw === "") return null;
  let entries: z.infer<typeof ENTRY>[];
  let serviceZone: string | null = null;
  let replicasGiven = true;
  if (raw.startsWith("[") || raw.startsWith("{")) {
    let json: unknown;
    try {
      json = JSON.parse(raw) as unknown;
    } catch {
      issues.push(
        "ReplicaUrls (secret): not valid JSON; expected a JSON array of postgres:// URLs or a comma-separated list",
      );
      return null;
    }
    const r = TOPOLOGY.safeParse(json);
    if (!r.success) {
      issues.push(
        'ReplicaUrls (secret): expected a JSON array of strings (postgres:// URLs) or {"url","zone"} objects, or {"serviceZone","replicas"}',
      );
      return null;
    }
    if (Array.isArray(r.data)) entries = r.data;
    else {
      if (r.data.replicas === undefined) replicasGiven = false;
      entries = r.data.replicas ?? [];
      const zone = r.data.serviceZone?.trim() ?? "";
      // Checked here rather than by parseZone, whose message shows the value.
      if (zone !== "" && !ZONE_RE.test(zone))
        issues.push(
          "ReplicaUrls (secret).serviceZone: not a zone name (value not shown)",
        );
      else if (zone !== "") serviceZone = zone;
    }
  } else {
    entries = raw.split(",");
  }
  const list = entries
    .map((e) =>
      typeof e === "string"
        ? { url: e.trim(), zone: null }
        : { url: e.url.trim(), zone: e.zone ?? null },
    )
    .filter((e) => e.url !== "");
  list.forEach((e, i) => {
    if (!isPostgresUrl(e.url))
      issues.push(
        `ReplicaUrls (secret)[${i + 1}]: not a postgres:// URL (value not shown)`,
      );
    // The router's replica list is comma-separated (READ_REPLICA_URLS).
    else if (e.url.includes(","))
      issues.push(
        `ReplicaUrls (secret)[${i + 1}]: contains a comma; percent-encode it as %2C (value not shown)`,
      );
    if (e.zone !== null && !ZONE_RE.test(e.zone))
      issues.push(`ReplicaUrls (secret)[${i + 1}].zone: not a zone name`);
  });
  return {
    urls: replicasGiven ? list.map((e) => e.url) : null,
    zones: list.map((e) => e.zone),
    serviceZone,
  };
}

import { ConfigError, isPostgresUrl } from "./router/config";

/**
 * The values of the app's Encore secrets, as `secret(name)()` returns them:
 * `""` when unset (Encore returns `""` for a missing secret locally; the edge
 * turns the "secret X is not set" error of other environments into `""`).
 *
 * Declared in backend/database/databases.ts with `CursorSecret` (read by
 * `CursorCodec.fromSecretOrEnv`); set
 * with `encore secret set --type <env> <Name>`, in `.secrets.local.cue` for
 * `encore run`, or under `"secrets"` in a self-hosted `infra.config.json`.
 * Encore Cloud refuses to deploy while a declared secret has no value:
 * `AdminToken` and `ReplicaUrls` have a value that means "off"
 * (`disabled`, `[]`); `CursorSecret` needs a real key (docs/provisioning.md).
 */
export interface EncoreSecretValues {
  /** `AdminToken`: the admin API's bearer token; `disabled` turns the admin API off. */
  readonly adminToken: string;
  /** `ReplicaUrls`: replicas beyond the declared `replica_N` databases; a JSON array or a comma list; `[]` for none. */
  readonly replicaUrls: string;
}

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
    fromSecret ??
    (env.READ_REPLICA_URLS ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
  const out: Record<string, string | undefined> = {
    ...env,
    DATABASE_URL: declared.primaryUrl,
    READ_REPLICA_URLS: [...declared.replicaUrls, ...extra].join(","),
  };
  const token = secrets.adminToken.trim();
  if (token.toLowerCase() === ADMIN_API_DISABLED) delete out.ADMIN_TOKEN;
  else if (token !== "") {
    if (token.length < MIN_ADMIN_TOKEN_LENGTH)
      throw new ConfigError([
        `AdminToken (secret): must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters, or "${ADMIN_API_DISABLED}" (value not shown)`,
      ]);
    out.ADMIN_TOKEN = token;
  }
  return out;
}

/** The URLs in `ReplicaUrls`, or null when the secret is empty (use the environment). */
function parseReplicaUrls(raw: string, issues: string[]): string[] | null {
  if (raw === "") return null;
  let urls: unknown;
  if (raw.startsWith("[")) {
    try {
      urls = JSON.parse(raw) as unknown;
    } catch {
      issues.push(
        "ReplicaUrls (secret): not valid JSON; expected a JSON array of postgres:// URLs or a comma-separated list",
      );
      return null;
    }
    if (!Array.isArray(urls) || !urls.every((u) => typeof u === "string")) {
      issues.push(
        "ReplicaUrls (secret): expected a JSON array of strings (postgres:// URLs)",
      );
      return null;
    }
  } else {
    urls = raw.split(",");
  }
  const list = (urls as string[]).map((u) => u.trim()).filter((u) => u !== "");
  list.forEach((u, i) => {
    if (!isPostgresUrl(u))
      issues.push(
        `ReplicaUrls (secret)[${i + 1}]: not a postgres:// URL (value not shown)`,
      );
    // The router's replica list is comma-separated (READ_REPLICA_URLS).
    else if (u.includes(","))
      issues.push(
        `ReplicaUrls (secret)[${i + 1}]: contains a comma; percent-encode it as %2C (value not shown)`,
      );
  });
  return list;
}

/**
 * Query parameters a replica URL added at run time may not carry: another
 * host (`host`, `hostaddr`, which `pg` lets override the URL's host, a
 * Unix socket included) and files on this machine (TLS keys and
 * certificates, a password file). TLS material comes from configuration,
 * never from the admin API.
 */
const FORBIDDEN_PARAMS = new Set([
  "host",
  "hostaddr",
  "sslcert",
  "sslkey",
  "sslrootcert",
  "sslcrl",
  "sslcrldir",
  "passfile",
  "service",
  "servicefile",
]);

/**
 * `*.db.internal`, `10.0.0.*`, `replica-1.example.com`: `*` stands for
 * any run of characters within one dot-separated label, so `10.0.2.*`
 * does not take `10.0.2.1.attacker.example`.
 */
function hostPattern(pattern: string): RegExp {
  const escaped = pattern
    .trim()
    .toLowerCase()
    .replace(/[.+?^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, "[^.]*");
  return new RegExp(`^${escaped}$`);
}

/**
 * Why a replica URL given at run time (the admin API, or stored by another
 * instance) may not be used; null when it may. The reason is for the
 * service's log: callers get one coarse error for every case, so the API
 * cannot be used to probe the network or the file system.
 *
 * @param allowlist REPLICA_HOST_ALLOWLIST patterns; empty = any host.
 */
export function runtimeReplicaUrlProblem(
  url: string,
  allowlist: readonly string[],
): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return "not a URL";
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:")
    return "not a postgres:// URL";
  let host: string;
  try {
    host = decodeURIComponent(u.hostname).toLowerCase();
  } catch {
    return "a malformed host";
  }
  if (host === "" || host.startsWith("/"))
    return "no network host (a Unix socket)";
  for (const key of u.searchParams.keys())
    if (FORBIDDEN_PARAMS.has(key.toLowerCase()))
      return `the ${key} parameter is not accepted at run time`;
  const bare = host.replace(/^\[|\]$/g, "");
  if (allowlist.length > 0 && !allowlist.some((p) => hostPattern(p).test(bare)))
    return `host ${bare} is not in REPLICA_HOST_ALLOWLIST`;
  return null;
}

/**
 * `url` with REPLICA_SSL_ROOT_CERT as its `sslrootcert`: the CA bundle that
 * verifies run-time replicas comes from the configuration (the URL cannot
 * name a file). Unchanged when none is configured.
 */
export function withConfiguredRootCert(
  url: string,
  rootCertPath: string | null,
): string {
  if (rootCertPath === null) return url;
  const u = new URL(url);
  u.searchParams.set("sslrootcert", rootCertPath);
  return u.toString();
}

/** What every caller reads when a replica given at run time cannot be used. */
export const UNUSABLE_REPLICA =
  "no replica could be used at that address (unreachable, not PostgreSQL, refused, or not allowed); the reason is in the service's log";

import type { RouterStatusView } from "../router/index";

/**
 * Removes node addresses from a text for callers who may not see them:
 * error texts name hosts (`connect ECONNREFUSED 10.0.0.12:5432`,
 * `getaddrinfo ENOTFOUND db-2.internal`, a certificate's `Host: ...`).
 * Each host of `router`'s nodes (as a whole word), any IPv4 or IPv6
 * address, and the name after a connection error code or a certificate
 * field becomes `<host>`.
 */
export function hostHider(router: RouterStatusView): (text: string) => string {
  const hosts = [
    ...new Set(
      router.clusters.flatMap((c) =>
        c.nodes.map((n) =>
          n.address
            .slice(0, n.address.lastIndexOf(":"))
            .replace(/^\[|\]$/g, ""),
        ),
      ),
    ),
  ]
    .filter((h) => h.length > 0)
    .sort((a, b) => b.length - a.length)
    .map(
      (h) =>
        new RegExp(
          `(?<![\\w.-])${h.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![\\w-])`,
          "g",
        ),
    );
  return (text) => {
    let out = text;
    for (const h of hosts) out = out.replace(h, "<host>");
    return out
      .replace(
        /\b(ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET|ENOTFOUND|EAI_AGAIN)\s+\S+/g,
        "$1 <host>",
      )
      .replace(/\b(Host|DNS|IP):\s*[^\s,]+/g, "$1: <host>")
      .replace(
        /\[?\b(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}\b\]?(?=[\s:/,)]|$)/g,
        (m) =>
          // An IPv6 address has "::" or at least four groups; a time (12:30:45) has neither.
          m.includes("::") || m.split(":").length >= 5 ? "<host>" : m,
      )
      .replace(/\b(?:\d{1,3}\.){3}\d{1,3}\b/g, "<host>");
  };
}

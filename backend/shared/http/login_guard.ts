import { RouterError } from "../../database/router/index";

/** What the dashboard's login needs to know of its request, besides the body. */
export interface LoginRequest {
  /** Came over HTTPS (or says so in X-Forwarded-Proto): the cookie is `__Host-` and Secure. */
  readonly https: boolean;
  /** The client's address: failed attempts back off per address. */
  readonly address: string;
  /** `Origin`, `Host` and `Sec-Fetch-Site`, as sent. */
  readonly origin?: string | undefined;
  readonly host?: string | undefined;
  readonly fetchSite?: string | undefined;
}

/**
 * The login only from the dashboard's own page: a browser sends `Origin`
 * (and `Sec-Fetch-Site`) with a POST, and both must name this site. A
 * client that sends neither (curl, a script) is not a browser another site
 * can steer, and is let through.
 *
 * @throws {RouterError} `permission_denied` for a cross-site request.
 */
export function requireSameOrigin(r: LoginRequest): void {
  const site = r.fetchSite?.toLowerCase();
  let same = site === undefined || site === "same-origin" || site === "none";
  if (same && r.origin !== undefined && r.origin !== "") {
    let host: string | null = null;
    try {
      host = new URL(r.origin).host.toLowerCase();
    } catch {
      host = null;
    }
    same = host !== null && host === (r.host ?? "").toLowerCase();
  }
  if (!same)
    throw new RouterError(
      "permission_denied",
      "the dashboard login takes requests from the dashboard's own page only",
    );
}

interface Failures {
  count: number;
  /** No attempt from this address before this time (ms). */
  until: number;
}

/**
 * Backs off per address after failed logins: the first
 * {@link LoginThrottle.FREE} failures cost nothing, then each one doubles
 * the wait before the next attempt (1 s, 2 s, 4 s, ... up to 15 min). A
 * success clears the address. At most 10,000 addresses are remembered (the
 * oldest go first), so a flood of addresses cannot grow it without bound.
 */
export class LoginThrottle {
  static readonly FREE = 5;
  private static readonly MAX_WAIT_MS = 15 * 60_000;
  private static readonly MAX_ADDRESSES = 10_000;
  private readonly failures = new Map<string, Failures>();

  constructor(private readonly now: () => number = Date.now) {}

  /** @throws {RouterError} `resource_exhausted` (429) while `address` must wait. */
  check(address: string): void {
    const f = this.failures.get(address);
    if (f === undefined) return;
    const wait = f.until - this.now();
    if (wait > 0)
      throw new RouterError(
        "resource_exhausted",
        `too many failed logins from this address: retry in ${Math.ceil(wait / 1000)} s`,
      );
  }

  failed(address: string): void {
    const f = this.failures.get(address) ?? { count: 0, until: 0 };
    f.count++;
    const over = f.count - LoginThrottle.FREE;
    f.until =
      over < 0
        ? 0
        : this.now() +
          Math.min(LoginThrottle.MAX_WAIT_MS, 1_000 * 2 ** Math.min(over, 20));
    this.failures.delete(address);
    if (this.failures.size >= LoginThrottle.MAX_ADDRESSES) {
      const oldest = this.failures.keys().next();
      if (oldest.done !== true) this.failures.delete(oldest.value);
    }
    this.failures.set(address, f);
  }

  succeeded(address: string): void {
    this.failures.delete(address);
  }
}

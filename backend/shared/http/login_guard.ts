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
  /**
   * `X-Forwarded-Host`: the host the client asked for when a proxy
   * rewrote `Host` (Encore's gateway does, and sets this header itself,
   * replacing any the client sent: runtimes/core/src/api/gateway/mod.rs).
   */
  readonly forwardedHost?: string | undefined;
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
  // "none": typed in or bookmarked, not sent by another site's page.
  let same = site === undefined || site === "same-origin" || site === "none";
  if (same && r.origin !== undefined && r.origin !== "") {
    const host = originHost(r.origin);
    const ours = [r.forwardedHost?.split(",")[0], r.host]
      .filter((h): h is string => h !== undefined && h !== "")
      .map((h) => h.trim().toLowerCase());
    same = host !== null && ours.includes(host);
  }
  if (!same)
    throw new RouterError(
      "permission_denied",
      "the dashboard login takes requests from the dashboard's own page only",
    );
}

/**
 * Whether the browser shows the page over HTTPS, by its `Origin`: behind a
 * proxy that terminates TLS and does not say so (Encore's gateway sets
 * X-Forwarded-Proto from its own side), the page's origin still does.
 */
export function originIsHttps(origin: string | undefined): boolean {
  return origin !== undefined && origin.toLowerCase().startsWith("https://");
}

function originHost(origin: string): string | null {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return null;
  }
}

interface Failures {
  count: number;
  /** No attempt from this address before this time (ms). */
  until: number;
  /** When the last one failed (ms). */
  last: number;
}

/**
 * Backs off per address after failed logins: the first
 * {@link LoginThrottle.FREE} failures cost nothing, then each one doubles
 * the wait before the next attempt (1 s, 2 s, 4 s, ... up to 1 min). A
 * success clears the address, and so does a quiet quarter of an hour. The
 * cap is short on purpose: behind a proxy many clients share an address,
 * and one that keeps failing holds that address waiting (at most a minute
 * past its last try; bearer tokens on the monitoring routes are not held).
 * A monitoring token of 16+ characters is out of reach of guessing anyway. At most 10,000 addresses are remembered (the oldest go
 * first), so a flood of addresses cannot grow it without bound.
 */
export class LoginThrottle {
  static readonly FREE = 5;
  private static readonly MAX_WAIT_MS = 60_000;
  /** Failures older than this are forgotten. */
  private static readonly FORGET_AFTER_MS = 15 * 60_000;
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
    const now = this.now();
    let f = this.failures.get(address);
    if (f === undefined || now - f.last > LoginThrottle.FORGET_AFTER_MS)
      f = { count: 0, until: 0, last: now };
    f.count++;
    f.last = now;
    const over = f.count - LoginThrottle.FREE;
    f.until =
      over < 0
        ? 0
        : now +
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

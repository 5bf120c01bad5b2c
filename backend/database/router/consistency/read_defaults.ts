import type { Consistency } from "./consistency";
import type { RouterConfig } from "../config/config";

/**
 * The consistency of a read that names none (no option in code, no
 * `X-Consistency` or token from the caller): DEFAULT_READ_CONSISTENCY,
 * `eventual` unless set, or the endpoint's own (READ_CONSISTENCY_ENDPOINTS).
 * With `strong` as the default and replicas allowed endpoint by endpoint,
 * a team adopts replicas where it has checked that a replica's answer is
 * right. The common case (no override) costs one comparison.
 */
export class ReadDefaults {
  private readonly byEndpoint: ReadonlyMap<string, Consistency> | null;

  readonly fallback: Consistency;

  /** DEFAULT_READ_CONSISTENCY and READ_CONSISTENCY_ENDPOINTS of `config`. */
  static of(config: RouterConfig): ReadDefaults {
    return new ReadDefaults(
      config.defaultConsistency,
      config.endpointConsistency,
    );
  }

  constructor(
    fallback: Consistency,
    overrides: ReadonlyMap<string, Consistency>,
  ) {
    // A default `strong` is marked as such: its reads are counted apart
    // (reason "default_strong"), not as reads that asked for the primary.
    this.fallback = byDefault(fallback);
    this.byEndpoint =
      overrides.size === 0
        ? null
        : new Map([...overrides].map(([e, c]) => [e, byDefault(c)]));
  }

  /** The default for a read of `endpoint` ("" outside any). */
  for(endpoint: string): Consistency {
    if (this.byEndpoint === null) return this.fallback;
    return this.byEndpoint.get(endpoint) ?? this.fallback;
  }

  /** As the status endpoint shows it: the default, and each endpoint's own. */
  describe(): { default: string; endpoints: Record<string, string> } {
    const endpoints: Record<string, string> = {};
    for (const [e, c] of [...(this.byEndpoint ?? new Map())].sort((a, b) =>
      a[0].localeCompare(b[0]),
    ))
      endpoints[e] = label(c);
    return { default: label(this.fallback), endpoints };
  }
}

/** `strong`, `eventual`, `bounded=5`: the level as X-Consistency writes it. */
export function label(c: Consistency): string {
  return c.level === "bounded" ? `bounded=${c.maxLagSeconds}` : c.level;
}

function byDefault(c: Consistency): Consistency {
  return c.level === "strong"
    ? Object.freeze({ level: "strong", byDefault: true })
    : c;
}

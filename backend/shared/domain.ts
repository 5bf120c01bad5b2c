import type { DatabaseRouter } from "../database/router/index";
import type { CursorCodec } from "./http/cursor";
import type { RouteDef } from "./http/route";

/** What a domain's endpoints are built from: this process's router and cursor codec. */
export interface DomainDeps {
  readonly router: DatabaseRouter;
  /** Signs list cursors (the same key on every instance). */
  readonly codec: CursorCodec;
}

/** A domain's endpoints by their Encore name: `createInvoice` is `invoices.createInvoice`. */
export type Endpoints = Readonly<Record<string, RouteDef>>;

/**
 * A domain service as both front doors serve it: its name (the Encore
 * service's, the first half of every endpoint name) and a function that
 * builds its typed handlers. Its Encore `api.ts` calls those handlers
 * directly; the standalone server serves them because the composition
 * root's domain list (backend/domains.ts) names the domain.
 */
export interface Domain<E extends Endpoints = Endpoints> {
  readonly name: string;
  endpoints(deps: DomainDeps): E;
}

/** Declares a domain; `endpoints` runs once per process, when the domain is mounted. */
export function defineDomain<E extends Endpoints>(
  name: string,
  endpoints: (deps: DomainDeps) => E,
): Domain<E> {
  return { name, endpoints };
}

/**
 * Builds `domain`'s endpoints and checks that each is named
 * `<domain>.<key>`, the name Encore gives the `api()` exported as `key`
 * (metrics, switches and logs use it under both front doors).
 *
 * @throws {Error} at start-up, naming the endpoint whose name disagrees.
 */
export function buildEndpoints<E extends Endpoints>(
  domain: Domain<E>,
  deps: DomainDeps,
): E {
  const endpoints = domain.endpoints(deps);
  for (const [key, route] of Object.entries(endpoints)) {
    const expected = `${domain.name}.${key}`;
    if (route.endpoint !== expected) {
      throw new Error(
        `domain ${domain.name}: endpoint ${key} is named "${route.endpoint}", expected "${expected}"`,
      );
    }
  }
  return endpoints;
}

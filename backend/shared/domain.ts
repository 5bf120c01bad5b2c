import type { DatabaseRouter } from "../database/router/index";
import type { CursorCodec } from "./http/cursor";
import type { RouteDef, RouteInput } from "./http/route";
import { requireOrgAccess } from "./auth/caller";

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
 * (metrics, switches and logs use it under both front doors). Each becomes
 * a tenant endpoint: before its handler runs, the caller must exist and
 * have access to every org it touches (its path's `:orgId`, or each org of
 * its {@link RouteDef.orgQuery} list), so a handler never runs for a
 * request that is not allowed, and an endpoint scoped to no org cannot be
 * declared.
 *
 * @throws {Error} at start-up, naming the endpoint whose name disagrees
 *   or that names no org.
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
  return Object.fromEntries(
    Object.entries(endpoints).map(([key, route]) => [key, tenantRoute(route)]),
  ) as E;
}

/** `route` behind the tenant check (see {@link buildEndpoints}). */
function tenantRoute<T>(route: RouteDef<T>): RouteDef<T> {
  const inPath = route.path.includes("/:orgId");
  const list = route.orgQuery;
  if (inPath === (list !== undefined))
    throw new Error(
      `endpoint ${route.endpoint}: a domain endpoint names its orgs either by :orgId in its path or by an orgQuery list (exactly one)`,
    );
  const check = inPath
    ? (input: RouteInput) => requireOrgAccess(input.caller, input.params.orgId)
    : (input: RouteInput) => {
        const ids = (input.query[list!] ?? "").split(",");
        // A malformed entry is left to the handler's validation (a 400);
        // every well-formed one must be the caller's.
        for (const id of ids)
          if (/^\d{1,16}$/.test(id.trim()) || input.caller === undefined)
            requireOrgAccess(input.caller, id.trim());
      };
  return {
    ...route,
    tenant: true,
    handle: (input) => {
      try {
        check(input);
      } catch (err) {
        return Promise.reject(err);
      }
      return route.handle(input);
    },
  };
}

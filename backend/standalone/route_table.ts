import type { RouteDef } from "../shared/http/route";

/*
 * The standalone server's route table: paths split into static and `:param`
 * segments, matched with static segments winning over parameters, as in
 * Encore's router (so /revenues/sum wins over /revenues/:id).
 */

/** A compiled route table, by method. */
export type RouteTable = Map<string, Compiled[]>;

/** A compiled route: its path split into static and `:param` segments. */
interface Compiled {
  route: RouteDef;
  segments: readonly string[];
  params: readonly (string | null)[];
  staticCount: number;
}

/** Compiles `routes` into a table for {@link match}. */
export function compile(routes: readonly RouteDef[]): RouteTable {
  const table = new Map<string, Compiled[]>();
  for (const route of routes) {
    const segments = route.path.split("/").slice(1);
    const params = segments.map((s) => (s.startsWith(":") ? s.slice(1) : null));
    const list = table.get(route.method) ?? [];
    list.push({
      route,
      segments,
      params,
      staticCount: params.filter((p) => p === null).length,
    });
    table.set(route.method, list);
  }
  // More static segments first, so /revenues/sum wins over /revenues/:id.
  for (const list of table.values())
    list.sort((a, b) => b.staticCount - a.staticCount);
  return table;
}

/** The route for `method` and `path` with its decoded params; else the methods that would match (405), or undefined (404). */
export function match(
  table: RouteTable,
  method: string,
  path: string,
):
  | { route: RouteDef; params: Record<string, string> }
  | { allowed: string[] }
  | undefined {
  const parts = path.split("/").slice(1);
  const list = table.get(method);
  if (list !== undefined) {
    for (const c of list) {
      const params = matchSegments(c, parts);
      if (params !== null) return { route: c.route, params };
    }
  }
  const allowed = [...table]
    .filter(
      ([m, other]) =>
        m !== method && other.some((c) => matchSegments(c, parts) !== null),
    )
    .map(([m]) => m);
  return allowed.length > 0 ? { allowed } : undefined;
}

function matchSegments(
  c: Compiled,
  parts: readonly string[],
): Record<string, string> | null {
  if (parts.length !== c.segments.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const name = c.params[i];
    const part = parts[i]!;
    if (name === null || name === undefined) {
      if (part !== c.segments[i]) return null;
    } else {
      if (part === "") return null;
      try {
        params[name] = decodeURIComponent(part);
      } catch {
        return null;
      }
    }
  }
  return params;
}

import { APIError, ErrCode } from "encore.dev/api";
import type { Consistency } from "./router/consistency";
import { parseConsistencyHeader, parseToken } from "./router/consistency";
import type { RouterErrorCode } from "./router/errors";
import { toRouterError } from "./router/pg_errors";
import {
  runWithRequestContext,
  type RequestContext,
} from "./router/request_context";
import type { RouteDef, RouteInput } from "../shared/http/route";
import { router, routerReady } from "./databases";

/**
 * Edge file: imports `encore.dev/api` at run time, so only Encore `api.ts`
 * files may import it (never the router core or the standalone server).
 *
 * After a handler that wrote, it mints the `X-Consistency-Token` from the
 * primary's WAL position, as the standalone server does.
 */

/** Consistency headers of a request, as Encore hands them over. */
export interface ConsistencyHeaders {
  /** `X-Consistency`: `strong | eventual | bounded=<seconds>`. */
  consistency?: string;
  /** `X-Consistency-Token` from an earlier write (read-your-writes). */
  consistencyToken?: string;
}

const CODES: Readonly<Record<RouterErrorCode, ErrCode>> = {
  invalid_argument: ErrCode.InvalidArgument,
  not_found: ErrCode.NotFound,
  unauthenticated: ErrCode.Unauthenticated,
  permission_denied: ErrCode.PermissionDenied,
  resource_exhausted: ErrCode.ResourceExhausted,
  unavailable: ErrCode.Unavailable,
  internal: ErrCode.Internal,
};

/**
 * Runs the handler of `endpoint` from `routes` inside a request context
 * (endpoint name and requested consistency), and returns its body plus
 * `servedBy` (nodes that ran its statements, comma-separated; empty when it
 * ran none) for the `X-Served-By` response header.
 *
 * @throws {APIError} mapped from the handler's {@link RouterError} code;
 *   anything else becomes `internal` without its message (it may hold
 *   details the client must not see).
 */
export async function callRoute<T>(
  routes: ReadonlyMap<string, RouteDef>,
  endpoint: string,
  input: RouteInput,
  headers?: ConsistencyHeaders,
): Promise<T & { servedBy: string; consistencyToken?: string }> {
  const route = routes.get(endpoint);
  if (route === undefined)
    throw new APIError(ErrCode.Internal, `no handler for ${endpoint}`);
  try {
    const ctx: RequestContext = {
      endpoint,
      servedBy: [],
      consistency: requestedConsistency(headers),
    };
    await routerReady;
    const body = (await runWithRequestContext(ctx, () =>
      route.handle(input),
    )) as T;
    const servedBy = ctx.servedBy.join(",");
    if (ctx.wroteCluster === undefined) return { ...body, servedBy };
    const token = await router.tokenAfterWrite(ctx.wroteCluster);
    return token === null
      ? { ...body, servedBy }
      : { ...body, servedBy, consistencyToken: token };
  } catch (err) {
    throw toAPIError(err);
  }
}

/** The consistency a request asked for; a token wins over `X-Consistency`. */
function requestedConsistency(
  headers: ConsistencyHeaders | undefined,
): Consistency | undefined {
  if (headers?.consistencyToken)
    return {
      level: "read_your_writes",
      token: parseToken(headers.consistencyToken),
    };
  if (headers?.consistency) return parseConsistencyHeader(headers.consistency);
  return undefined;
}

/** Maps a thrown error to an Encore `APIError`. */
export function toAPIError(err: unknown): APIError {
  if (err instanceof APIError) return err;
  const known = toRouterError(err);
  if (known !== null)
    return new APIError(CODES[known.code], known.message, known);
  return new APIError(
    ErrCode.Internal,
    "internal error",
    err instanceof Error ? err : undefined,
  );
}

import {
  type Consistency,
  parseConsistencyHeader,
  parseToken,
  type RequestContext,
} from "../../database/router/index";
import type { Caller } from "../auth/caller";

/**
 * The request headers the router reads, as a front door hands them over
 * (the standalone server from `IncomingMessage.headers`, an Encore endpoint
 * from its typed `Header<...>` fields). An absent or empty consistency
 * header counts as not sent. Who the caller is comes from authentication,
 * never from a header the caller picks.
 */
export interface RouterHeaders {
  /** `X-Consistency`: `strong | eventual | bounded=<seconds>`. */
  consistency?: string | undefined;
  /** `X-Consistency-Token` from an earlier write (read-your-writes). */
  consistencyToken?: string | undefined;
  /** `Content-Type`: a request with a body must send JSON (see json_body.ts). */
  contentType?: string | undefined;
}

/**
 * The request context of one request to `endpoint`, from the headers the
 * router reads: the consistency it asked for (a token wins over
 * `X-Consistency`), its authenticated caller for per-user caps, and that the answer to a
 * write carries a consistency token (writes bring it along). Both front
 * doors build their context here, so they read these headers alike.
 * @throws {InvalidArgumentError} naming the header that is malformed.
 */
export function requestContextFromHeaders(
  endpoint: string,
  headers: RouterHeaders | undefined,
  caller?: Caller,
): RequestContext {
  const ctx: RequestContext = {
    endpoint,
    servedBy: [],
    wantsToken: true,
  };
  const consistency = requestedConsistency(headers);
  if (consistency !== undefined) ctx.consistency = consistency;
  if (caller !== undefined) ctx.userId = caller.userId;
  return ctx;
}

/** The consistency a request asked for; a token wins over `X-Consistency`. */
function requestedConsistency(
  headers: RouterHeaders | undefined,
): Consistency | undefined {
  if (headers?.consistencyToken)
    return {
      level: "read_your_writes",
      token: parseToken(headers.consistencyToken),
    };
  if (headers?.consistency) return parseConsistencyHeader(headers.consistency);
  return undefined;
}

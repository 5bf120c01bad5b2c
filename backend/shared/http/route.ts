import type { Caller } from "../auth/caller";

/** HTTP methods the API uses. */
export type HttpMethod = "GET" | "POST" | "PATCH" | "PUT" | "DELETE";

/**
 * A request as both front doors (Encore `api()` and the standalone server)
 * hand it to a handler: path parameters, query string and JSON body, all
 * still unvalidated. Handlers validate with zod and throw
 * `InvalidArgumentError` naming the field.
 */
export interface RouteInput {
  readonly params: Readonly<Record<string, string>>;
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly body: unknown;
  /** Admin routes: who says they are acting (the X-Actor header, checked), for the audit trail. */
  readonly actor?: string;
  /** The caller holds the admin or the monitoring token: node addresses may be shown. */
  readonly privileged?: boolean;
  /** The request came over HTTPS (or says so in X-Forwarded-Proto): cookies get `Secure`. */
  readonly https?: boolean;
  /** Who sent it and from which page (the dashboard login uses it). */
  readonly client?: {
    readonly address: string;
    readonly origin?: string | undefined;
    readonly host?: string | undefined;
    readonly forwardedHost?: string | undefined;
    readonly fetchSite?: string | undefined;
  };
  /** Domain routes: who is calling, as authentication established it (absent: nobody). */
  readonly caller?: Caller;
}

/** One endpoint: its contract and its handler, written once; `T` is what a success returns. */
export interface RouteDef<T = unknown> {
  readonly method: HttpMethod;
  /** Encore-style path: `/v1/finance/orgs/:orgId/revenues`. */
  readonly path: string;
  /** `service.endpointName`, e.g. `finance.listRevenues`. */
  readonly endpoint: string;
  /** Status of a success (200 unless the handler creates something). */
  readonly successStatus?: number;
  /** Needs the admin bearer token. */
  readonly admin?: boolean;
  /**
   * A domain endpoint: needs a caller (an API key), who must have access to
   * every org it touches. Set by {@link buildEndpoints}, never by hand.
   */
  readonly tenant?: boolean;
  /**
   * A domain endpoint without `:orgId` in its path: the query parameter
   * that lists the orgs it reads (comma-separated), each checked against
   * the caller's orgs.
   */
  readonly orgQuery?: string;
  /** A monitoring route: needs the monitoring token when MONITORING_TOKEN is set (health is not one). */
  readonly monitoring?: boolean;
  /** What a monitoring route answers without the token; default the 401 JSON error. */
  readonly whenDenied?: () => HttpResponse;
  handle(input: RouteInput): Promise<T>;
}

/**
 * A handler result that sets its own status or content type (a 503 health
 * body, Prometheus text). Plain values are sent as JSON with the route's
 * success status.
 */
export class HttpResponse {
  constructor(
    readonly status: number,
    readonly body: unknown,
    /** When set, `body` is a string sent as is with this content type. */
    readonly contentType?: string,
    /** Extra response headers (Set-Cookie, Cache-Control). */
    readonly headers?: Readonly<Record<string, string>>,
  ) {}
}

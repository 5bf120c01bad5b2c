import { InvalidArgumentError } from "../../database/router/index";

/**
 * A request body in a media type other than JSON. A browser sends a
 * cross-site form or `fetch` without asking the server first only as
 * `text/plain`, `application/x-www-form-urlencoded` or `multipart/form-data`;
 * refusing everything but JSON is what keeps another site from writing
 * through a user's browser. Standalone answers 415; under Encore it is a
 * 400 (`invalid_argument`: Encore's error codes have no 415).
 */
export class UnsupportedMediaTypeError extends InvalidArgumentError {
  constructor(received: string | undefined) {
    super(
      "Content-Type",
      received === undefined
        ? "a request with a body must send Content-Type: application/json"
        : "must be application/json",
    );
  }
}

/** `application/json`, with or without parameters (`; charset=utf-8`). */
export function isJsonMediaType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const type = contentType.split(";", 1)[0]!.trim().toLowerCase();
  return type === "application/json";
}

/**
 * Refuses a request that has a body not declared as JSON; one without a
 * body passes.
 * @throws {UnsupportedMediaTypeError}
 */
export function requireJsonBody(
  contentType: string | undefined,
  hasBody: boolean,
): void {
  if (hasBody && !isJsonMediaType(contentType))
    throw new UnsupportedMediaTypeError(contentType);
}

/**
 * Structured logging the router uses. Fields must never hold a password, a
 * full connection string or a query parameter.
 */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** One JSON object per line on stderr (stdout stays free for program output). */
export const jsonLogger: Logger = {
  info: (message, fields) => write("info", message, fields),
  warn: (message, fields) => write("warn", message, fields),
  error: (message, fields) => write("error", message, fields),
};

/** Discards everything; for tests and benchmarks. */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

function write(
  level: string,
  message: string,
  fields?: Record<string, unknown>,
): void {
  process.stderr.write(
    JSON.stringify({
      time: new Date().toISOString(),
      level,
      message,
      ...fields,
    }) + "\n",
  );
}

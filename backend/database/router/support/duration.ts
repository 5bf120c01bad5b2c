/**
 * Parses a duration such as `250ms`, `30s`, `10m` or `1h` into milliseconds.
 * A bare number is read in `bareUnit`: milliseconds for every setting
 * (`REPLICA_HEALTH_CHECK_INTERVAL=30000`), or refused (`null`) where a bare
 * number used to mean seconds.
 *
 * @returns the duration in milliseconds, or `null` when the text is not a
 *   non-negative duration (or is bare where bare numbers are refused).
 */
export function parseDurationMs(
  text: string,
  bareUnit: "ms" | null,
): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!match) return null;
  const value = Number(match[1]);
  const unit = match[2] ?? bareUnit;
  if (unit === null) return null;
  const ms = value * UNIT_MS[unit as keyof typeof UNIT_MS];
  return Number.isFinite(ms) ? Math.round(ms) : null;
}

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

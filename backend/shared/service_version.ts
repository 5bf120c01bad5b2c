/**
 * The version an instance reports in its fleet heartbeat: SERVICE_VERSION
 * when set (`configured`, a build id or git revision from the deploy),
 * else what `fallback` finds (package.json standalone, the build revision
 * under Encore), else "unknown".
 */
export function serviceVersion(
  configured: string | null,
  fallback: () => string | undefined,
): string {
  if (configured !== null) return configured;
  const ok = (v: string | undefined): v is string =>
    v !== undefined && /^[A-Za-z0-9_.+-]{1,64}$/.test(v);
  try {
    const found = fallback()?.trim().slice(0, 64);
    return ok(found) ? found : "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * The version an instance reports in its fleet heartbeat: SERVICE_VERSION
 * when set (a build id or git revision from the deploy), else what
 * `fallback` finds (package.json standalone, the build revision under
 * Encore), else "unknown".
 */
export function serviceVersion(fallback: () => string | undefined): string {
  const ok = (v: string | undefined): v is string =>
    v !== undefined && /^[A-Za-z0-9_.+-]{1,64}$/.test(v);
  const fromEnv = process.env.SERVICE_VERSION?.trim();
  if (ok(fromEnv)) return fromEnv;
  try {
    const found = fallback()?.trim().slice(0, 64);
    return ok(found) ? found : "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * The suite-wide secret scan (issue 24): every response body a test app
 * answers through its helpers and every log line of the services the tests
 * start (in-process test apps, the Encore front door's logger, spawned
 * services' stderr) is checked as it is recorded for
 * - an API key (`rrk_<id>_<secret>`), except in the answer that issues it;
 * - a connection string with a password (`postgres://user:pw@`);
 * - the value of any secret setting a test app was started with
 *   (ADMIN_TOKEN, MONITORING_TOKEN, CURSOR_SECRET, SESSION_SECRET,
 *   STORED_URL_KEY, STORED_URL_OLD_KEYS).
 * What it finds is kept, and test/support/secret_scan_setup.ts fails the
 * test file at its end if anything was. Not scanned: what a test sends,
 * answers a test reads with its own `fetch` rather than through the
 * helpers (startTestApp's `call`, callEndpoint, encore_path's rawCall),
 * and `npm start`'s stdout, which prints a development key on purpose.
 */
import type { Logger } from "../../backend/database/router/support/logger";

const SECRET_SETTINGS = [
  "ADMIN_TOKEN",
  "MONITORING_TOKEN",
  "CURSOR_SECRET",
  "SESSION_SECRET",
  "STORED_URL_KEY",
  "STORED_URL_OLD_KEYS",
];
const API_KEY = /rrk_[0-9a-f]{16}_[A-Za-z0-9_-]{32}/;
const URL_PASSWORD = /postgres(?:ql)?:\/\/[^/\s:@"']+:[^@\s/"']+@/i;
/** Where an API key is expected: the answer that issues it. */
const ISSUES_KEYS = /^POST \/v1\/system\/database\/api-keys$/;

interface Scan {
  readonly secrets: Set<string>;
  readonly leaks: string[];
  recorded: number;
}

// On globalThis: modules loaded afresh (vi.resetModules) share one scan.
const KEY = Symbol.for("replica-router.secret-scan");
const shared = globalThis as { [KEY]?: Scan };
function scan(): Scan {
  return (shared[KEY] ??= { secrets: new Set(), leaks: [], recorded: 0 });
}

/** Remembers the secret settings of `env` (a test app's environment). */
export function noteSecrets(
  env: Readonly<Record<string, string | undefined>>,
): void {
  for (const name of SECRET_SETTINGS)
    for (const raw of (env[name] ?? "").split(",")) {
      const value = raw.trim();
      // Encore's "off" words for the admin and monitoring secrets are no secrets.
      if (value.length >= 8 && !/^(disabled|open)$/i.test(value))
        scan().secrets.add(value);
    }
}

/** Checks one response body or log line; `where` says which (`GET /path`, `log`). */
export function record(where: string, text: string): void {
  const s = scan();
  s.recorded++;
  const found: string[] = [];
  if (!ISSUES_KEYS.test(where) && API_KEY.test(text)) found.push("an API key");
  if (URL_PASSWORD.test(text))
    found.push("a connection string with a password");
  for (const secret of s.secrets)
    if (text.includes(secret)) found.push(`the secret ${secret.slice(0, 4)}…`);
  if (found.length > 0 && s.leaks.length < 20)
    s.leaks.push(`${where}: ${found.join(", ")} in ${text.slice(0, 200)}`);
}

/** `inner`, with every line it logs recorded too. */
export function recordingLogger(inner: Logger): Logger {
  const tee =
    (level: keyof Logger) =>
    (message: string, fields?: Record<string, unknown>) => {
      record("log", JSON.stringify({ message, ...fields }));
      inner[level](message, fields);
    };
  return { info: tee("info"), warn: tee("warn"), error: tee("error") };
}

/** What this test file leaked, and how much was checked; clears both. */
export function takeScan(): { leaks: string[]; recorded: number } {
  const s = scan();
  const out = { leaks: [...s.leaks], recorded: s.recorded };
  s.leaks.length = 0;
  s.recorded = 0;
  return out;
}

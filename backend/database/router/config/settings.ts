import { z } from "zod";
import { ADVANCED_SETTINGS } from "./settings_advanced";
import { BASIC_SETTINGS } from "./settings_basic";

export type { Setting, SettingUnit } from "./setting";

/**
 * Every setting of the service, in the order the README shows them: one
 * environment variable each (Encore secrets take the place of four of
 * them, see encore/settings.ts). Validation runs from the parsers here
 * ({@link envSchema}), and the README's two settings tables are generated
 * from this table (`npm run docs:settings`; test/unit/settings_drift.test.ts
 * fails when they differ). No code under backend/ reads the process
 * environment except the two entry points, which hand it to `loadConfig`.
 */
export const SETTINGS = { ...BASIC_SETTINGS, ...ADVANCED_SETTINGS } as const;

/** The names of the settings this table parses. */
type Parsed = {
  [
    K in keyof typeof SETTINGS as (typeof SETTINGS)[K]["parser"] extends null
      ? never
      : K
  ]: Exclude<(typeof SETTINGS)[K]["parser"], null>;
};

/** The zod schema of every setting with a parser, built from {@link SETTINGS}. */
export const envSchema = z.object(
  Object.fromEntries(
    Object.entries(SETTINGS).flatMap(([name, s]) =>
      s.parser === null ? [] : [[name, s.parser]],
    ),
  ) as Parsed,
);

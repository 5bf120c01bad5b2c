/**
 * The README's settings tables, generated from the settings table
 * (backend/database/router/config/settings.ts):
 *
 *   npm run docs:settings            rewrites them in README.md
 *   npm run docs:settings -- --check exits 1 when README.md differs
 *
 * test/unit/settings_drift.test.ts runs the same comparison in npm test.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  SETTINGS,
  type Setting,
} from "../backend/database/router/config/settings";

export const README = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../README.md",
);

const UNITS: Record<Setting["unit"], string> = {
  duration: "duration",
  bytes: "bytes",
  count: "number",
  fraction: "0 to 1",
  boolean: "true / false",
  text: "text",
  list: "comma list",
  url: "URL",
  JSON: "JSON",
};

/** The markdown table of the settings of one level, in the table's order. */
export function settingsTable(level: Setting["level"]): string {
  const rows = Object.entries(SETTINGS as Record<string, Setting>)
    .filter(([, s]) => s.level === level)
    .map(
      ([name, s]) =>
        `| \`${name}\` | ${s.shown} | ${UNITS[s.unit]} | ${s.meaning} |`,
    );
  return [
    "| variable | default | unit | meaning |",
    "|---|---|---|---|",
    ...rows,
  ].join("\n");
}

const marker = (level: string, end: boolean) =>
  end
    ? `<!-- /settings:${level} -->`
    : `<!-- settings:${level}: generated from backend/database/router/config/settings.ts by \`npm run docs:settings\` -->`;

/** `readme` with both generated tables put in place between their markers. */
export function withSettingsTables(readme: string): string {
  let out = readme;
  for (const level of ["basic", "advanced"] as const) {
    const start = out.indexOf(marker(level, false));
    const end = out.indexOf(marker(level, true));
    if (start < 0 || end < start)
      throw new Error(`README.md lacks the settings:${level} markers`);
    out =
      out.slice(0, start + marker(level, false).length) +
      `\n${settingsTable(level)}\n` +
      out.slice(end);
  }
  return out;
}

function main(): void {
  const readme = fs.readFileSync(README, "utf8");
  const generated = withSettingsTables(readme);
  if (process.argv.includes("--check")) {
    if (generated !== readme) {
      console.error(
        "README.md's settings tables differ from settings.ts: run npm run docs:settings",
      );
      process.exitCode = 1;
    }
    return;
  }
  if (generated !== readme) fs.writeFileSync(README, generated);
  console.log(
    generated === readme ? "README.md is up to date" : "README.md updated",
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();

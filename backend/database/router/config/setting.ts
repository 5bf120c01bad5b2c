import type { z } from "zod";

/** What a setting's value is; durations take `ms`, `s`, `m`, `h`, and a bare number is milliseconds. */
export type SettingUnit =
  | "duration"
  | "bytes"
  | "count"
  | "fraction"
  | "boolean"
  | "text"
  | "list"
  | "url"
  | "JSON";

/** One row of the settings table. */
export interface Setting {
  /**
   * Parses the variable's text (undefined when unset) into its value, with
   * its default; null when another module parses it (`parsedBy`).
   */
  readonly parser: z.ZodType | null;
  /** Where a setting without a parser is read (a path under backend/). */
  readonly parsedBy?: string;
  /** The default as the README shows it: `30s` in backticks parses to the parser's default. */
  readonly shown: string;
  readonly unit: SettingUnit;
  /** `basic`: what most deployments set; `advanced`: tuning. */
  readonly level: "basic" | "advanced";
  readonly meaning: string;
}

export const setting = <P extends z.ZodType | null>(
  parser: P,
  meta: Omit<Setting, "parser">,
): Setting & { readonly parser: P } => ({ parser, ...meta });

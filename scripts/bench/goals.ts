/**
 * Goals stated beside single measured values (issue 20: the test gate holds
 * no wall-clock thresholds; the timings it used to assert are printed here
 * with their goals). A verdict is "met" or "missed" for one run's value,
 * "not measured" when the value is missing; nothing fails the run.
 */

/** A goal: how it reads in the table, and whether a value meets it. */
export interface Goal {
  readonly text: string;
  readonly ok: (x: number) => boolean;
}

/** Goal "< limit" (in `unit`). */
export function under(limit: number, unit: string): Goal {
  return {
    text: `< ${limit.toLocaleString("en-US")}${unit}`,
    ok: (x) => x < limit,
  };
}

/** Goal "≤ limit" (in `unit`). */
export function atMost(limit: number, unit: string): Goal {
  return {
    text: `≤ ${limit.toLocaleString("en-US")}${unit}`,
    ok: (x) => x <= limit,
  };
}

/** Goal "0". */
export const NONE: Goal = { text: "0", ok: (x) => x === 0 };

/** "met", "missed", or "not measured" (NaN) for `value` against `goal`. */
export function judge(value: number, goal: Goal): string {
  if (Number.isNaN(value)) return "not measured";
  return goal.ok(value) ? "met" : "missed";
}

/** A table row: label, shown value, goal, verdict. */
export function goalRow(
  label: string,
  value: number,
  shown: string,
  goal: Goal,
): string[] {
  return [label, shown, goal.text, judge(value, goal)];
}

/** Headers of a table of {@link goalRow}s. */
export const GOAL_HEADERS = ["figure", "measured", "goal", "verdict"] as const;

/**
 * A row of a table with one column per run (client count, trial): label,
 * goal, one cell per column, and a verdict over all columns ("met", or
 * which columns missed). Without a goal, "–" and no verdict.
 */
export function matrixRow<T>(opts: {
  label: string;
  columns: readonly T[];
  name: (c: T) => string;
  value: (c: T) => number;
  show: (x: number, c: T) => string;
  goal?: Goal;
}): string[] {
  const { columns, goal } = opts;
  const cells = columns.map((c) => opts.show(opts.value(c), c));
  let verdict = "";
  if (goal !== undefined) {
    const v = columns.map((c) => judge(opts.value(c), goal));
    const missed = columns.filter((_, i) => v[i] === "missed").map(opts.name);
    verdict = v.every((x) => x === "met")
      ? "met"
      : missed.length > 0
        ? `missed at ${missed.join(", ")}`
        : v.join(", ");
  }
  return [opts.label, goal?.text ?? "–", ...cells, verdict];
}

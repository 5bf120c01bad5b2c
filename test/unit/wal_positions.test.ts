import { describe, expect, it } from "vitest";
import { parseLsn } from "../../backend/database/router/lag/lag_tracker";
import {
  lsnOrNull,
  recordEnd,
} from "../../backend/database/router/primary/wal_positions";

describe("recordEnd: the primary's insert position as a replica's replay position can reach it", () => {
  it("takes a position just past a page header (24 bytes; 40 at a segment's first page) back to the page boundary", () => {
    expect(recordEnd(parseLsn("0/3002018"))).toBe(parseLsn("0/3002000"));
    expect(recordEnd(parseLsn("0/4000028"))).toBe(parseLsn("0/4000000"));
    expect(recordEnd(parseLsn("1/0000028"))).toBe(parseLsn("1/0000000"));
  });

  it("leaves every other position as it is (no record ends 24 or 40 bytes into a page, any other offset can)", () => {
    for (const text of [
      "0/3002000",
      "0/3002020",
      "0/3002030",
      "0/30021A8",
      "0/0",
    ])
      expect(recordEnd(parseLsn(text))).toBe(parseLsn(text));
  });

  it("applies to positions the write flight brought", () => {
    expect(lsnOrNull("0/3002018")).toBe(parseLsn("0/3002000"));
    expect(lsnOrNull(null)).toBeNull();
    expect(lsnOrNull("not an lsn")).toBeNull();
  });
});

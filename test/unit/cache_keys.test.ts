import { describe, expect, it } from "vitest";
import {
  clusterGenKey,
  orgTableGenKey,
  readGenKeys,
  tableAnyGenKey,
  tableFlushGenKey,
  writeGenKeys,
} from "../../backend/database/router/cache/cache_keys";

// Instances of one fleet, old and new during a rolling deploy, bump and read
// the same generation keys in the shared tier: their text is a contract.
describe("generation keys", () => {
  it("keep their text, however often they are asked for", () => {
    for (let i = 0; i < 3; i++) {
      expect(clusterGenKey("main")).toBe("rr1:g:main:*");
      expect(tableAnyGenKey("main", "Public.Revenues")).toBe(
        "rr1:g:main:t:revenues:any",
      );
      expect(tableFlushGenKey("main", "revenues")).toBe(
        "rr1:g:main:t:revenues:flush",
      );
      expect(orgTableGenKey("main", "revenues", 7)).toBe(
        "rr1:g:main:t:revenues:o:7",
      );
    }
  });

  it("stay right for many orgs (past the per-table memo's bound) and clusters", () => {
    // 25,000 orgs: the per-table memo (10,000) is cleared twice on the way.
    for (let org = 0; org < 25_000; org++)
      expect(orgTableGenKey("eu", "invoices", org)).toBe(
        `rr1:g:eu:t:invoices:o:${org}`,
      );
    expect(orgTableGenKey("eu", "invoices", 14)).toBe(
      "rr1:g:eu:t:invoices:o:14",
    );
    expect(orgTableGenKey("main", "invoices", 14)).toBe(
      "rr1:g:main:t:invoices:o:14",
    );
  });

  it("a write bumps exactly what the reads of its org and table depend on", () => {
    const write = writeGenKeys("main", ["revenues"], 3);
    const orgRead = readGenKeys({
      cluster: "main",
      tables: ["revenues"],
      orgId: 3,
    });
    const crossOrgRead = readGenKeys({ cluster: "main", tables: ["revenues"] });
    expect(orgRead.filter((k) => write.includes(k))).toEqual([
      "rr1:g:main:t:revenues:o:3",
    ]);
    expect(crossOrgRead.filter((k) => write.includes(k))).toEqual([
      "rr1:g:main:t:revenues:any",
    ]);
    // Another org's entries are not invalidated.
    expect(
      readGenKeys({ cluster: "main", tables: ["revenues"], orgId: 4 }).filter(
        (k) => write.includes(k),
      ),
    ).toEqual([]);
  });
});

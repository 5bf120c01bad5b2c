/**
 * Stored replica URLs sealed with AES-256-GCM: they open with their key or
 * a rotated-out one, never with another, never once altered; a URL stored
 * in clear by an older version still opens.
 */
import { describe, expect, it } from "vitest";
import { UrlSealer } from "../../backend/database/control/url_sealer";

const key = (n: number) => Buffer.alloc(32, n);
const URL_1 = "postgres://app:S3cret@10.0.0.12:5432/app?sslmode=require";

describe("UrlSealer", () => {
  it("seals a URL so that nothing of it shows, and opens it again", () => {
    const s = new UrlSealer(key(1));
    const sealed = s.seal(URL_1);
    expect(sealed).toMatch(/^sealed:v1:[0-9a-f]{8}:/);
    expect(sealed).not.toContain("S3cret");
    expect(sealed).not.toContain("10.0.0.12");
    expect(s.seal(URL_1)).not.toBe(sealed); // a fresh IV each time
    expect(s.open(sealed)).toBe(URL_1);
  });

  it("opens with a rotated-out key; refuses a key it does not have, naming neither", () => {
    const sealed = new UrlSealer(key(1)).seal(URL_1);
    expect(new UrlSealer(key(2), [key(1)]).open(sealed)).toBe(URL_1);
    expect(() => new UrlSealer(key(2)).open(sealed)).toThrow(
      /a key this instance does not have/,
    );
    expect(() => new UrlSealer(null).open(sealed)).toThrow(/STORED_URL_KEY/);
  });

  it("refuses an altered sealed text", () => {
    const s = new UrlSealer(key(1));
    const sealed = s.seal(URL_1);
    const last = sealed.at(-2) === "A" ? "B" : "A";
    const altered = sealed.slice(0, -2) + last + sealed.at(-1);
    expect(() => s.open(altered)).toThrow(/altered or truncated/);
  });

  it("opens a URL an older version stored in clear; seals nothing without a key", () => {
    expect(new UrlSealer(null).open(URL_1)).toBe(URL_1);
    expect(new UrlSealer(null).canSeal).toBe(false);
    expect(() => new UrlSealer(null).seal(URL_1)).toThrow(/STORED_URL_KEY/);
  });
});

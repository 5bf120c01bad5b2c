/**
 * What API keys add to each domain request, in this process: the key check
 * of a key seen within API_KEY_CACHE_TTL (parse the header, look the id up,
 * SHA-256 the secret, compare) plus the tenant check, against a request
 * that skips both. No database: the one lookup a key costs per TTL and
 * instance goes to the primary and is not on the per-request path.
 *
 *   npx tsx scripts/bench/auth_cost.ts
 *
 * Prints the median over 15 rounds of 100,000 checks each, in ns per request.
 */
import { performance } from "node:perf_hooks";
import type { DatabaseRouter } from "../../backend/database/router/index";
import { silentLogger } from "../../backend/database/router/support/logger";
import { mintApiKey } from "../../backend/shared/auth/api_key";
import { requireOrgAccess } from "../../backend/shared/auth/caller";
import { ApiKeyStore } from "../../backend/shared/auth/key_store";

const minted = mintApiKey();
const row = {
  id: minted.id,
  secret_hash: minted.secretHash,
  user_id: "bench",
  org_ids: ["42", "43"],
  label: "",
  created_by: null,
  created_at: new Date(),
  revoked_at: null,
};
const router = {
  getWriteConnection: () => ({ queryRow: async () => row }),
} as unknown as DatabaseRouter;
const store = new ApiKeyStore(router, {
  cacheTtlMs: 3_600_000,
  logger: silentLogger,
});
const header = `Bearer ${minted.key}`;
const N = 100_000;

async function round(): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const caller = await store.authenticate(header);
    requireOrgAccess(caller ?? undefined, "42");
  }
  return ((performance.now() - t0) * 1e6) / N;
}

async function main(): Promise<void> {
  if ((await store.authenticate(header)) === null)
    throw new Error("the key does not check");
  await round(); // warm-up
  const ns: number[] = [];
  for (let r = 0; r < 15; r++) ns.push(await round());
  ns.sort((a, b) => a - b);
  const q = (p: number) => ns[Math.floor(p * (ns.length - 1))]!.toFixed(0);
  process.stdout.write(
    `key check + tenant check per request: median ${q(0.5)} ns (IQR ${q(0.25)}..${q(0.75)}), ${N.toLocaleString("en")} × 15 rounds\n`,
  );
}

void main();

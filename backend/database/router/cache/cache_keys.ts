import { createHash } from "node:crypto";

/*
 * Keys of the query cache. Every key starts with a fixed prefix and holds
 * only names the code chose (cluster and table names from configuration or
 * the SQL classifier, an integer org id) or a hash: a caller's key parts
 * (which may come from user input) never appear in a key, only their
 * SHA-256.
 */

/** Prefix of every key, so the cache can share a Redis with other data. */
export const KEY_PREFIX = "rr1:";

/** What an entry depends on: the tables it reads, for one org or for all. */
export interface CacheScope {
  readonly cluster: string;
  /** Tables the read selects from, lower-case, as named in SQL (no schema). */
  readonly tables: readonly string[];
  /** The org whose rows it reads; undefined when it reads across orgs. */
  readonly orgId?: number;
}

/** A table name as the cache keys it: lower-case, schema dropped, safe characters only. */
export function tableKey(name: string): string {
  return remembered(tableKeys, name, tableKeyOf);
}

function tableKeyOf(name: string): string {
  const last = name.slice(name.lastIndexOf(".") + 1).toLowerCase();
  return /^[a-z_][a-z0-9_$]{0,62}$/.test(last)
    ? last
    : `h${hash(last).slice(0, 16)}`;
}

// Table and cluster names come from the code and configuration: few, and
// asked for on every write and cached read. Bounded anyway.
const tableKeys = new Map<string, string>();
const safeNames = new Map<string, string>();
const clusterGenKeys = new Map<string, string>();

function remembered(
  memo: Map<string, string>,
  name: string,
  of: (name: string) => string,
): string {
  let v = memo.get(name);
  if (v === undefined) {
    if (memo.size >= 1_000) memo.clear();
    memo.set(name, (v = of(name)));
  }
  return v;
}

/** The key of an entry: its namespace (code-chosen) and the hash of its parts. */
export function entryKey(
  cluster: string,
  namespace: string,
  parts: readonly unknown[],
): string {
  return `${KEY_PREFIX}e:${safe(cluster)}:${safe(namespace)}:${hash(JSON.stringify(parts))}`;
}

/** Cluster-wide generation: bumped by writes whose tables are unknown, and after lost invalidations. */
export function clusterGenKey(cluster: string): string {
  return remembered(clusterGenKeys, cluster, clusterGenKeyOf);
}

function clusterGenKeyOf(cluster: string): string {
  return `${KEY_PREFIX}g:${safe(cluster)}:*`;
}

/** Generation of one org's rows of `table`. */
export function orgTableGenKey(
  cluster: string,
  table: string,
  orgId: number,
): string {
  const keys = tableGenKeys(cluster, table);
  let key = keys.byOrg.get(orgId);
  if (key === undefined) {
    if (keys.byOrg.size >= 10_000) keys.byOrg.clear();
    keys.byOrg.set(orgId, (key = `${keys.prefix}o:${orgId}`));
  }
  return key;
}

/** Generation bumped by writes to `table` whose org is unknown (every org's entries depend on it). */
export function tableFlushGenKey(cluster: string, table: string): string {
  return tableGenKeys(cluster, table).flush;
}

/** Generation bumped by every write to `table` (cross-org entries depend on it). */
export function tableAnyGenKey(cluster: string, table: string): string {
  return tableGenKeys(cluster, table).any;
}

/**
 * The generation keys of one table of one cluster, built once: every write
 * and every cached read asks for them, and a string built once keeps its
 * hash, so the generation map finds it without hashing it again.
 */
interface TableGenKeys {
  readonly prefix: string;
  readonly any: string;
  readonly flush: string;
  /** Per-org keys, bounded like the other memos. */
  readonly byOrg: Map<number, string>;
}

const genKeysByCluster = new Map<string, Map<string, TableGenKeys>>();

function tableGenKeys(cluster: string, table: string): TableGenKeys {
  let tables = genKeysByCluster.get(cluster);
  if (tables === undefined) {
    if (genKeysByCluster.size >= 1_000) genKeysByCluster.clear();
    genKeysByCluster.set(cluster, (tables = new Map()));
  }
  let keys = tables.get(table);
  if (keys === undefined) {
    if (tables.size >= 1_000) tables.clear();
    const prefix = `${KEY_PREFIX}g:${safe(cluster)}:t:${tableKey(table)}:`;
    keys = {
      prefix,
      any: `${prefix}any`,
      flush: `${prefix}flush`,
      byOrg: new Map(),
    };
    tables.set(table, keys);
  }
  return keys;
}

/** Generation keys an entry of `scope` depends on, in a stable order. */
export function readGenKeys(scope: CacheScope): string[] {
  const keys = [clusterGenKey(scope.cluster)];
  for (const t of [...new Set(scope.tables.map(tableKey))].sort()) {
    if (scope.orgId === undefined) keys.push(tableAnyGenKey(scope.cluster, t));
    else
      keys.push(
        tableFlushGenKey(scope.cluster, t),
        orgTableGenKey(scope.cluster, t, scope.orgId),
      );
  }
  return keys;
}

/**
 * Generation keys a write bumps: every org-scoped and cross-org entry that
 * could read what it changed. `tables` null = unknown (the whole cluster).
 */
export function writeGenKeys(
  cluster: string,
  tables: readonly string[] | null,
  orgId: number | undefined,
): string[] {
  if (tables === null) return [clusterGenKey(cluster)];
  const keys: string[] = [];
  const names =
    tables.length === 1
      ? [tableKey(tables[0]!)]
      : [...new Set(tables.map(tableKey))].sort();
  for (const t of names) {
    keys.push(tableAnyGenKey(cluster, t));
    keys.push(
      orgId === undefined
        ? tableFlushGenKey(cluster, t)
        : orgTableGenKey(cluster, t, orgId),
    );
  }
  return keys;
}

/** The fence key of generation `gen` of generation key `genKey`. */
export function fenceKey(genKey: string, gen: number): string {
  return `${KEY_PREFIX}f:${genKey.slice(KEY_PREFIX.length)}:${gen}`;
}

function safe(name: string): string {
  return remembered(safeNames, name, safeOf);
}

function safeOf(name: string): string {
  return /^[A-Za-z0-9_.-]{1,64}$/.test(name)
    ? name
    : `h${hash(name).slice(0, 16)}`;
}

function hash(text: string): string {
  return createHash("sha256").update(text).digest("base64url");
}

/**
 * The Encore rules this app depends on, checked with the TypeScript compiler
 * API over the app's sources: what Encore's static parser (`tsparser/`) and
 * runtime (`runtimes/core/`) accept, as read in encoredev/encore at 2b626e8
 * (v1.58.x). Each rule names the Encore source file it mirrors. `tsc` cannot
 * see any of these: the code type-checks either way.
 *
 * Used by test/unit/encore_conformance.test.ts (the app and bad fixtures) and
 * test/integration/contract.test.ts (the endpoint table).
 */
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

/** The rules, each with the Encore source it mirrors. */
export const RULES = {
  "resource-declaration":
    "tsparser/src/parser/resources/infra/{sqldb,secret,metrics}.rs, apis/service.rs: resources are top-level consts named by a string literal",
  "migrations-path":
    "tsparser/litparser/src/lib.rs (LocalRelPath) + infra/sqldb.rs (parse_default): a local relative path to a folder of N_name.up.sql files",
  "resource-usage":
    "tsparser/src/parser/usageparser/mod.rs + infra/sqldb.rs, infra/metrics.rs: a database only by member access, method call or call argument; a metric only by method call",
  "endpoint-declaration":
    "tsparser/src/parser/resources/apis/api.rs (EndpointConfig via LitParser): an exported top-level const, options an inline literal",
  "endpoint-service":
    "tsparser/src/parser/service_discovery.rs + apis/service.rs: an endpoint lives under a folder with encore.service.ts (default export new Service(literal))",
  "route-conflict":
    "tsparser/src/app/mod.rs (validate_apis, matchit router): two paths with a parameter at the same position under different names conflict",
  "path-params":
    "tsparser/src/parser/resources/apis/encoding.rs: every :param / *rest is a field of an explicitly typed request",
  sensitive:
    "docs/ts/observability/tracing.md, apis/api.rs (sensitive): an endpoint taking a credential is sensitive: true so traces never hold it",
  "auth-handler":
    "runtimes/core/src/api/auth/mod.rs + api/gateway/mod.rs: the auth handler runs for EVERY request with credentials, public ones included; any error but unauthenticated ends the request. Its params are headers/query only (apis/authhandler.rs)",
  "success-status":
    "tsparser/src/parser/resources/apis/encoding.rs (HttpStatus field), docs/ts/primitives/defining-apis.mdx: a non-200 success needs an HttpStatus response field set to it",
  "body-limit":
    "tsparser/src/parser/resources/apis/api.rs (bodyLimit, default 2 MiB): endpoints that take a body declare the standalone server's limit",
  "required-fields":
    "runtimes/core/src/api/jsonschema/de.rs: a missing required (or mistyped) body or query field is refused before the handler, with Encore's message that names no field",
  "cache-declaration":
    'tsparser/src/parser/resources/infra/cache.rs (CACHE_CLUSTER_PARSER, CACHE_KEYSPACE_PARSER) + app/mod.rs (validate_caches) + legacymeta/mod.rs (cluster usage): a CacheCluster is a top-level const named by a string literal unique in the app, its options a literal with a known evictionPolicy; a keyspace is `new XKeyspace<K>(cluster, { keyPattern: "literal" })` under its own imported name, K string/number/boolean/bigint with `:key` as the only parameter, or an interface of such fields that are exactly the pattern\'s parameters; no `__encore` prefix; the cluster argument is a CacheCluster const; the keyspace lives in a service folder',
} as const;

/** A rule's id. */
export type RuleId = keyof typeof RULES;

/** One broken rule, at `where` (`file:line`). */
export interface Violation {
  rule: RuleId;
  where: string;
  message: string;
}

/** One `api()` / `api.raw()` declaration as Encore sees it. */
export interface EncoreEndpoint {
  name: string;
  file: string;
  raw: boolean;
  method: string;
  path: string;
  expose: boolean;
  auth: boolean;
  sensitive: boolean;
  /** Success status: the `HttpStatus.X` the handler sets, else 200. */
  successStatus: number;
  /** Request fields: name, wire location and whether optional. */
  fields: {
    name: string;
    location: Location;
    optional: boolean;
    wire?: string;
    loose: boolean;
    stringly: boolean;
  }[];
}

/** Where a request field travels. */
export type Location = "header" | "query" | "cookie" | "body_or_query";

/** A standalone route, for the success-status rule. */
export interface StandaloneRoute {
  method: string;
  path: string;
  successStatus?: number;
}

/** What to check. */
export interface CheckOptions {
  /** App root (holds encore.app). */
  root: string;
  /** Files to read, relative to root; default every .ts under backend/. */
  files?: readonly string[];
  /** Extra in-memory files (absolute path -> text), for fixtures. */
  overlay?: ReadonlyMap<string, string>;
  /** The standalone route table; enables the success-status rule. */
  standaloneRoutes?: readonly StandaloneRoute[];
  /** The standalone server's body limit; enables the body-limit rule. */
  bodyLimitBytes?: number;
}

/** The result of one check. */
export interface CheckResult {
  violations: Violation[];
  endpoints: EncoreEndpoint[];
}

const METRIC_CLASSES = new Set([
  "Counter",
  "CounterGroup",
  "Gauge",
  "GaugeGroup",
]);
/** Keyspace classes and whether they take a value type (cache.rs KEYSPACE_CONSTRUCTORS). */
const KEYSPACE_CLASSES = new Map([
  ["StringKeyspace", false],
  ["IntKeyspace", false],
  ["FloatKeyspace", false],
  ["StringListKeyspace", false],
  ["NumberListKeyspace", false],
  ["StringSetKeyspace", false],
  ["NumberSetKeyspace", false],
  ["StructKeyspace", true],
]);
/** cache.rs EvictionPolicy::from_str. */
const EVICTION_POLICIES = new Set([
  "noeviction",
  "allkeys-lru",
  "allkeys-lfu",
  "allkeys-random",
  "volatile-lru",
  "volatile-lfu",
  "volatile-ttl",
  "volatile-random",
]);
/** Types cache.rs takes as `Basic` key types (and key fields). */
const BASIC_KEY =
  ts.TypeFlags.String |
  ts.TypeFlags.Number |
  ts.TypeFlags.Boolean |
  ts.TypeFlags.BigInt;
const MIGRATION_FILE = /^(\d+)_([^.]+)\.(up|down)\.sql$/;
/** Request fields that carry a credential (a consistency token is an LSN, not one). */
const CREDENTIAL_FIELD =
  /^(authorization|password|secret|token|adminToken|connectionString|connectionUrl)$/i;
const CREDENTIAL_HEADER = /^(authorization|cookie|x-api-key)$/i;

/** Runs every rule over the app. */
export function checkEncoreApp(options: CheckOptions): CheckResult {
  const overlay = options.overlay ?? new Map<string, string>();
  const files = (options.files ?? listTs(options.root, "backend", overlay)).map(
    (f) => path.resolve(options.root, f),
  );
  const program = createProgram(files, overlay);
  const checker = program.getTypeChecker();
  const disk = overlayDisk(overlay);
  const violations: Violation[] = [];
  const endpoints: EncoreEndpoint[] = [];
  const resources = new Map<ts.Symbol, "database" | "metric">();
  let hasAuthHandler = false;
  const metricNames = new Set<string>();
  const cacheClusterNames = new Set<string>();

  const report = (rule: RuleId, node: ts.Node, message: string) => {
    const sf = node.getSourceFile();
    const { line } = sf.getLineAndCharacterOfPosition(node.getStart());
    violations.push({
      rule,
      where: `${path.relative(options.root, sf.fileName)}:${line + 1}`,
      message,
    });
  };

  /** The encore.dev export `node` refers to (e.g. "SQLDatabase", "api"), or null. */
  const encoreName = (node: ts.Node): string | null => {
    let sym = checker.getSymbolAtLocation(node);
    if (sym === undefined) return null;
    if (sym.flags & ts.SymbolFlags.Alias) sym = checker.getAliasedSymbol(sym);
    const decl = sym.declarations?.[0];
    if (decl === undefined) return null;
    return /[\\/]node_modules[\\/]encore\.dev[\\/]/.test(
      decl.getSourceFile().fileName,
    )
      ? sym.name
      : null;
  };

  const sourceFiles = files.map((f) => program.getSourceFile(f)!);
  // Pass 1: declarations.
  for (const sf of sourceFiles) {
    const visit = (node: ts.Node): void => {
      if (ts.isNewExpression(node)) {
        const name = encoreName(node.expression);
        if (name === "SQLDatabase") {
          const sym = declareResource(node, "SQLDatabase");
          if (sym !== undefined) resources.set(sym, "database");
          checkMigrations(node);
        } else if (name !== null && METRIC_CLASSES.has(name)) {
          const sym = declareResource(node, name);
          if (sym !== undefined) resources.set(sym, "metric");
          const lit = node.arguments?.[0];
          if (lit !== undefined && ts.isStringLiteral(lit)) {
            if (metricNames.has(lit.text))
              report(
                "resource-declaration",
                lit,
                `metric "${lit.text}" is declared twice (app/mod.rs validate_metrics)`,
              );
            metricNames.add(lit.text);
          }
          const labels = node.typeArguments?.[0];
          if (
            labels !== undefined &&
            checker
              .getTypeFromTypeNode(labels)
              .getProperties()
              .some((p) => p.name === "service")
          )
            report(
              "resource-declaration",
              labels,
              'the label "service" is reserved by the Encore runtime (infra/metrics.rs)',
            );
          if (
            lit !== undefined &&
            ts.isStringLiteral(lit) &&
            (!/^[a-z][a-z0-9_]*$/.test(lit.text) || lit.text.startsWith("e_"))
          )
            report(
              "resource-declaration",
              lit,
              `metric name "${lit.text}" must be snake_case and not start with e_`,
            );
        } else if (name === "Service") {
          checkService(node);
        } else if (name === "CacheCluster") {
          checkCacheCluster(node);
        } else if (name !== null && KEYSPACE_CLASSES.has(name)) {
          checkKeyspace(node, name);
        }
      } else if (ts.isCallExpression(node)) {
        const callee = node.expression;
        const name = encoreName(callee);
        if (name === "secret") declareResource(node, "secret()");
        else if (name === "authHandler") checkAuthHandler(node);
        else if (name === "api") checkEndpoint(node, false);
        else if (
          ts.isPropertyAccessExpression(callee) &&
          encoreName(callee.expression) === "api"
        )
          checkEndpoint(node, callee.name.text === "raw");
        else if (
          ts.isPropertyAccessExpression(callee) &&
          callee.name.text === "named" &&
          encoreName(callee.expression) === "SQLDatabase"
        ) {
          const arg = node.arguments[0];
          if (arg === undefined || !ts.isStringLiteral(arg))
            report(
              "resource-declaration",
              node,
              "SQLDatabase.named() takes a string literal",
            );
        } else if (
          ts.isPropertyAccessExpression(callee) &&
          callee.name.text === "named" &&
          encoreName(callee.expression) === "CacheCluster"
        ) {
          const arg = node.arguments[0];
          if (arg === undefined || !ts.isStringLiteral(arg))
            report(
              "cache-declaration",
              node,
              "CacheCluster.named() takes a string literal",
            );
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  // Pass 2: every use of a database or metric, in every file read.
  for (const sf of sourceFiles) {
    const visit = (node: ts.Node): void => {
      if (ts.isIdentifier(node)) checkUsage(node);
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  if (endpoints.some((e) => e.auth) && !hasAuthHandler) {
    violations.push({
      rule: "auth-handler",
      where: "(app)",
      message: "auth: true endpoints need an authHandler and a Gateway",
    });
  }
  checkRouteConflicts();
  if (options.standaloneRoutes !== undefined)
    checkStatuses(options.standaloneRoutes);
  return { violations, endpoints };

  // ---------------------------------------------------------------------------

  /** `const x = new Kind("literal")` at the top level; returns x's symbol. */
  function declareResource(
    node: ts.NewExpression | ts.CallExpression,
    kind: string,
    rule: RuleId = "resource-declaration",
  ): ts.Symbol | undefined {
    const first = node.arguments?.[0];
    if (first === undefined || !ts.isStringLiteral(first))
      report(rule, node, `${kind} must be named by a string literal`);
    const decl = node.parent;
    if (
      !ts.isVariableDeclaration(decl) ||
      decl.initializer !== node ||
      !ts.isIdentifier(decl.name) ||
      !isTopLevelConst(decl)
    ) {
      report(
        rule,
        node,
        `${kind} must be the initializer of a top-level const`,
      );
      return undefined;
    }
    return checker.getSymbolAtLocation(decl.name);
  }

  function checkMigrations(node: ts.NewExpression): void {
    const cfg = node.arguments?.[1];
    if (cfg === undefined) return;
    if (!ts.isObjectLiteralExpression(cfg)) {
      report(
        "migrations-path",
        cfg,
        "SQLDatabase options must be an object literal",
      );
      return;
    }
    const prop = property(cfg, "migrations");
    if (prop === undefined) return;
    let lit: ts.Expression = prop;
    if (ts.isObjectLiteralExpression(prop)) {
      const p = property(prop, "path");
      if (p === undefined)
        return report("migrations-path", prop, "migrations.path is missing");
      lit = p;
    }
    if (!ts.isStringLiteral(lit))
      return report(
        "migrations-path",
        lit,
        "expected a local relative path (a string literal)",
      );
    const rel = lit.text;
    if (
      path.isAbsolute(rel) ||
      rel.split(/[\\/]/).some((c) => c === "..") ||
      rel === ""
    )
      return report(
        "migrations-path",
        lit,
        `"${rel}" is not a local relative path ("expected a local relative path": no "..", not absolute)`,
      );
    const dir = path.resolve(path.dirname(node.getSourceFile().fileName), rel);
    if (!disk.isDir(dir))
      return report(
        "migrations-path",
        lit,
        `migrations folder "${rel}" does not exist`,
      );
    const sql = disk.list(dir).filter((f) => f.endsWith(".sql"));
    const bad = sql.filter((f) => !MIGRATION_FILE.test(f));
    if (bad.length > 0)
      report(
        "migrations-path",
        lit,
        `invalid migration filename: ${bad.join(", ")}`,
      );
    if (!sql.some((f) => MIGRATION_FILE.exec(f)?.[3] === "up"))
      report("migrations-path", lit, `no N_name.up.sql file in "${rel}"`);
  }

  function checkService(node: ts.NewExpression): void {
    const sf = node.getSourceFile();
    const ok =
      path.basename(sf.fileName) === "encore.service.ts" &&
      ts.isExportAssignment(node.parent) &&
      node.arguments?.[0] !== undefined &&
      ts.isStringLiteral(node.arguments[0]);
    if (!ok)
      report(
        "endpoint-service",
        node,
        'a Service is `export default new Service("literal")` in encore.service.ts',
      );
  }

  function checkCacheCluster(node: ts.NewExpression): void {
    // parseutil.rs (collect_import_idents) tracks named imports only.
    if (!ts.isIdentifier(node.expression))
      report(
        "cache-declaration",
        node,
        'CacheCluster: import { CacheCluster } from "encore.dev/storage/cache": a namespaced class is not seen, so the cluster is never provisioned',
      );
    declareResource(node, "CacheCluster", "cache-declaration");
    const name = node.arguments?.[0];
    if (name !== undefined && ts.isStringLiteral(name)) {
      if (cacheClusterNames.has(name.text))
        report(
          "cache-declaration",
          name,
          `"cache cluster with this name already defined": ${name.text} (use CacheCluster.named())`,
        );
      cacheClusterNames.add(name.text);
    }
    const cfg = node.arguments?.[1];
    if (cfg === undefined) return;
    for (const [key, value] of literalFields(cfg, ["evictionPolicy"]))
      if (
        key === "evictionPolicy" &&
        !(ts.isStringLiteral(value) && EVICTION_POLICIES.has(value.text))
      )
        report(
          "cache-declaration",
          value,
          `evictionPolicy must be one of ${[...EVICTION_POLICIES].join(", ")}, as a string literal`,
        );
  }

  function checkKeyspace(node: ts.NewExpression, className: string): void {
    const bad = (at: ts.Node, message: string) =>
      report("cache-declaration", at, `${className}: ${message}`);
    // cache.rs looks the class up by the callee's local name, and
    // parseutil.rs (collect_import_idents) tracks named imports only.
    if (!ts.isIdentifier(node.expression) || node.expression.text !== className)
      bad(
        node,
        `use the class by its own name (import { ${className} } from "encore.dev/storage/cache"): a renamed or namespaced class is not seen as a keyspace`,
      );
    if (!underService(path.dirname(node.getSourceFile().fileName)))
      bad(
        node,
        '"cannot determine which service is accessing this cache cluster": declare it in a folder with encore.service.ts',
      );
    const [clusterArg, cfg] = node.arguments ?? [];
    if (clusterArg === undefined || cfg === undefined)
      return bad(
        node,
        "keyspace constructor requires cluster and config arguments",
      );
    if (!isCacheClusterConst(clusterArg))
      bad(
        clusterArg,
        '"could not resolve cache cluster reference": pass the top-level const holding new CacheCluster(...) or CacheCluster.named(...)',
      );
    let pattern: string | undefined;
    for (const [key, value] of literalFields(cfg, [
      "keyPattern",
      "defaultExpiry",
    ]))
      if (key === "keyPattern") {
        if (ts.isStringLiteral(value)) pattern = value.text;
        else bad(value, 'keyPattern: "expected string literal"');
      }
    if (
      ts.isObjectLiteralExpression(cfg) &&
      property(cfg, "keyPattern") === undefined
    )
      bad(cfg, '"field keyPattern is required but is missing"');
    const keyNode = node.typeArguments?.[0];
    if (keyNode === undefined) return bad(node, '"missing key type parameter"');
    if (pattern === undefined) return;
    if (pattern.startsWith("__encore"))
      bad(cfg, "the prefix `__encore` is reserved for internal use by Encore");
    const params = pattern
      .split("/")
      .filter((seg) => seg.startsWith(":"))
      .map((seg) => seg.slice(1));
    const key = checker.getTypeFromTypeNode(keyNode);
    if (key.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown))
      bad(keyNode, "'any' and 'unknown' are not supported as a cache key type");
    else if (key.flags & BASIC_KEY) {
      if (params.some((p) => p !== "key"))
        bad(
          cfg,
          `"KeyPattern parameter must be named ':key' for basic (non-struct) key types": ${pattern}`,
        );
    } else if (!isObjectType(key))
      bad(keyNode, `unsupported key type: ${checker.typeToString(key)}`);
    else {
      const fields = key.getProperties();
      for (const f of fields) {
        const t = checker.getNonNullableType(
          checker.getTypeOfSymbolAtLocation(f, keyNode),
        );
        if (!(t.flags & BASIC_KEY))
          bad(
            keyNode,
            `cache key field '${f.name}' must be a basic type (string, number, or boolean)`,
          );
        if (!params.includes(f.name))
          bad(
            keyNode,
            `cache key field '${f.name}' is not used in the keyPattern`,
          );
      }
      for (const p of params)
        if (!fields.some((f) => f.name === p))
          bad(
            cfg,
            `keyPattern parameter '${p}' does not exist in the key type`,
          );
    }
    const valueNode = node.typeArguments?.[1];
    if (
      KEYSPACE_CLASSES.get(className) === true &&
      (valueNode === undefined ||
        !isObjectType(checker.getTypeFromTypeNode(valueNode)))
    )
      bad(
        valueNode ?? node,
        "StructKeyspace value type must be an interface or object type",
      );
  }

  /** Key-value pairs of a config object as cache.rs's LitParser reads it; reports what it refuses. */
  function literalFields(
    cfg: ts.Expression,
    known: readonly string[],
  ): [string, ts.Expression][] {
    if (!ts.isObjectLiteralExpression(cfg)) {
      report("cache-declaration", cfg, '"expected object literal"');
      return [];
    }
    const out: [string, ts.Expression][] = [];
    for (const p of cfg.properties) {
      const key =
        ts.isPropertyAssignment(p) &&
        (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name))
          ? p.name.text
          : undefined;
      if (key === undefined || !ts.isPropertyAssignment(p))
        report(
          "cache-declaration",
          p,
          "only key: value pairs (no spread, shorthand or method)",
        );
      else if (!known.includes(key))
        report("cache-declaration", p, `"unexpected field": ${key}`);
      else out.push([key, p.initializer]);
    }
    return out;
  }

  /** A top-level const holding `new CacheCluster(...)` or `CacheCluster.named(...)`, maybe imported. */
  function isCacheClusterConst(e: ts.Expression): boolean {
    if (!ts.isIdentifier(e)) return false;
    let sym = checker.getSymbolAtLocation(e);
    if (sym !== undefined && sym.flags & ts.SymbolFlags.Alias)
      sym = checker.getAliasedSymbol(sym);
    const decl = sym?.valueDeclaration;
    if (
      decl === undefined ||
      !ts.isVariableDeclaration(decl) ||
      !isTopLevelConst(decl) ||
      decl.initializer === undefined
    )
      return false;
    const init = decl.initializer;
    if (ts.isNewExpression(init))
      return encoreName(init.expression) === "CacheCluster";
    return (
      ts.isCallExpression(init) &&
      ts.isPropertyAccessExpression(init.expression) &&
      init.expression.name.text === "named" &&
      encoreName(init.expression.expression) === "CacheCluster"
    );
  }

  function isObjectType(t: ts.Type): boolean {
    return (
      (t.flags & ts.TypeFlags.Object) !== 0 &&
      !checker.isArrayType(t) &&
      t.getCallSignatures().length === 0
    );
  }

  function checkAuthHandler(node: ts.CallExpression): void {
    hasAuthHandler = true;
    const fn = node.arguments[0];
    if (
      fn === undefined ||
      !(ts.isArrowFunction(fn) || ts.isFunctionExpression(fn))
    )
      return report(
        "auth-handler",
        node,
        "the auth handler must be an inline function",
      );
    const param = fn.parameters[0];
    const typeArg = node.typeArguments?.[0];
    const paramType =
      typeArg !== undefined
        ? checker.getTypeFromTypeNode(typeArg)
        : param !== undefined
          ? checker.getTypeAtLocation(param)
          : undefined;
    if (paramType === undefined)
      return report(
        "auth-handler",
        node,
        "the auth handler needs an explicit parameter type",
      );
    for (const f of requestFields(paramType))
      if (f.location === "body_or_query" || f.location === "cookie")
        report(
          "auth-handler",
          node,
          `auth handler field "${f.name}" must be a Header<> or Query<> field`,
        );
    // Every throw must be APIError.unauthenticated(...) (or new APIError(ErrCode.Unauthenticated, ...)).
    const visit = (n: ts.Node): void => {
      if (ts.isThrowStatement(n) && !isUnauthenticated(n.expression))
        report(
          "auth-handler",
          n,
          "the auth handler may only throw APIError.unauthenticated: any other error fails every request that carries credentials, public endpoints included (gateway/mod.rs)",
        );
      ts.forEachChild(n, visit);
    };
    visit(fn.body);
  }

  function isUnauthenticated(e: ts.Expression): boolean {
    if (ts.isParenthesizedExpression(e)) return isUnauthenticated(e.expression);
    if (ts.isCallExpression(e) && ts.isPropertyAccessExpression(e.expression))
      return (
        e.expression.name.text === "unauthenticated" &&
        encoreName(e.expression.expression) === "APIError"
      );
    if (ts.isNewExpression(e) && encoreName(e.expression) === "APIError") {
      const code = e.arguments?.[0];
      return (
        code !== undefined &&
        ts.isPropertyAccessExpression(code) &&
        code.name.text === "Unauthenticated"
      );
    }
    return false;
  }

  function checkEndpoint(node: ts.CallExpression, raw: boolean): void {
    const decl = node.parent;
    const exported =
      ts.isVariableDeclaration(decl) &&
      decl.initializer === node &&
      ts.isIdentifier(decl.name) &&
      isTopLevelConst(decl) &&
      (ts.getCombinedModifierFlags(decl) & ts.ModifierFlags.Export) !== 0;
    const name =
      ts.isVariableDeclaration(decl) && ts.isIdentifier(decl.name)
        ? decl.name.text
        : "(anonymous)";
    if (!exported)
      report(
        "endpoint-declaration",
        node,
        `${name}: "API endpoint must be bound to an exported variable" (a top-level export const)`,
      );
    const opts = node.arguments[0];
    if (opts === undefined || !ts.isObjectLiteralExpression(opts))
      return report(
        "endpoint-declaration",
        node,
        `${name}: options must be an inline object literal`,
      );
    const lit: Record<string, string | number | boolean | string[]> = {};
    for (const p of opts.properties) {
      if (!ts.isPropertyAssignment(p) || !ts.isIdentifier(p.name)) {
        report(
          "endpoint-declaration",
          p,
          `${name}: options hold only key: literal pairs`,
        );
        continue;
      }
      const v = literalValue(p.initializer);
      if (v === undefined)
        report(
          "endpoint-declaration",
          p,
          `${name}: option ${p.name.text} must be a literal ("expected ... literal")`,
        );
      else lit[p.name.text] = v;
    }
    const method = Array.isArray(lit.method)
      ? lit.method.join(",")
      : String(lit.method ?? "*");
    const routePath = typeof lit.path === "string" ? lit.path : "";
    if (routePath === "")
      report(
        "endpoint-declaration",
        opts,
        `${name}: path must be a string literal`,
      );
    const sf = node.getSourceFile();
    if (!underService(path.dirname(sf.fileName)))
      report(
        "endpoint-service",
        node,
        `${name}: no encore.service.ts in its folder or above`,
      );

    const handler = node.arguments[1];
    const inline =
      handler !== undefined &&
      (ts.isArrowFunction(handler) || ts.isFunctionExpression(handler))
        ? handler
        : undefined;
    let fields: EncoreEndpoint["fields"] = [];
    let successStatus = 200;
    if (!raw) {
      const reqNode = node.typeArguments?.[0] ?? inline?.parameters[0]?.type;
      if (reqNode !== undefined)
        fields = requestFields(checker.getTypeFromTypeNode(reqNode));
      const params = [...routePath.matchAll(/[:*]([A-Za-z0-9_]+)/g)].map(
        (m) => m[1]!,
      );
      if (params.length > 0 && reqNode === undefined)
        report(
          "path-params",
          node,
          `${name}: "request schema must be defined when having path parameters"`,
        );
      else
        for (const p of params)
          if (!fields.some((f) => f.name === p))
            report(
              "path-params",
              node,
              `${name}: "path parameter not found in request schema": ${p}`,
            );
      const respNode = node.typeArguments?.[1] ?? promised(inline?.type);
      const statusField =
        respNode === undefined
          ? undefined
          : checker
              .getTypeFromTypeNode(respNode)
              .getProperties()
              .find((s) => typeWrapper(s) === "HttpStatus");
      if (statusField !== undefined && inline !== undefined) {
        const set = new Set<number>();
        const visit = (n: ts.Node): void => {
          if (
            ts.isPropertyAccessExpression(n) &&
            encoreName(n.expression) === "HttpStatus"
          ) {
            // HttpStatusValues is `as const`: the checker knows each value.
            const t = checker.getTypeAtLocation(n);
            if (t.isNumberLiteral()) set.add(t.value);
          }
          ts.forEachChild(n, visit);
        };
        visit(inline.body);
        if (set.size === 1) successStatus = [...set][0]!;
        else
          report(
            "success-status",
            node,
            `${name}: an HttpStatus response field, but the handler sets ${set.size === 0 ? "no" : "several"} HttpStatus.X`,
          );
      }
      const bodyless = /^(GET|DELETE|HEAD)$/.test(method);
      for (const f of fields) {
        if (params.includes(f.name) || f.location === "cookie") continue;
        const problem = !f.optional
          ? "is required"
          : f.location === "body_or_query" && !bodyless && !f.loose
            ? "is typed (declare it `unknown`)"
            : (f.location === "query" ||
                  (f.location === "body_or_query" && bodyless)) &&
                !f.stringly
              ? "is not a string (declare it Query<string>)"
              : null;
        if (problem !== null)
          report(
            "required-fields",
            node,
            `${name}: field "${f.name}" ${problem}, so Encore refuses a request without it, or with another type, before the handler can name the field; the handler validates`,
          );
      }
    }
    if (
      options.bodyLimitBytes !== undefined &&
      /^(POST|PUT|PATCH)$/.test(method) &&
      lit.bodyLimit !== options.bodyLimitBytes
    )
      report(
        "body-limit",
        node,
        `${name}: bodyLimit must be ${options.bodyLimitBytes} (the standalone limit); Encore's default is 2 MiB`,
      );
    const sensitive = lit.sensitive === true;
    const credential = fields.find(
      (f) =>
        CREDENTIAL_FIELD.test(f.name) ||
        (f.location === "header" && CREDENTIAL_HEADER.test(f.wire ?? "")),
    );
    if (credential !== undefined && !sensitive)
      report(
        "sensitive",
        node,
        `${name}: takes "${credential.name}" but is not sensitive: true, so Encore's traces would record it`,
      );
    // auth: true: every call carries the caller's credential, and a request
    // span keeps the headers of an endpoint that is not sensitive
    // (runtimes/core/src/api/endpoint.rs, req_headers; trace/protocol.rs).
    else if (lit.auth === true && !sensitive)
      report(
        "sensitive",
        node,
        `${name}: auth: true, so each call carries the caller's credential, but it is not sensitive: true, so Encore's traces would record it`,
      );
    endpoints.push({
      name,
      file: path.relative(options.root, sf.fileName),
      raw,
      method,
      path: routePath,
      expose: lit.expose === true,
      auth: lit.auth === true,
      sensitive,
      successStatus,
      fields,
    });
  }

  /** matchit refuses two different parameter names at one position of the same prefix. */
  function checkRouteConflicts(): void {
    const segs = (p: string) => p.split("/").slice(1);
    const isParam = (s: string) => s.startsWith(":") || s.startsWith("*");
    for (let i = 0; i < endpoints.length; i++) {
      for (let j = i + 1; j < endpoints.length; j++) {
        const a = segs(endpoints[i]!.path);
        const b = segs(endpoints[j]!.path);
        for (let k = 0; k < Math.min(a.length, b.length); k++) {
          const x = a[k]!;
          const y = b[k]!;
          if (isParam(x) && isParam(y)) {
            if (x === y) continue;
            violations.push({
              rule: "route-conflict",
              where: `${endpoints[i]!.file} ${endpoints[i]!.name} / ${endpoints[j]!.name}`,
              message: `${endpoints[i]!.path} and ${endpoints[j]!.path} name the parameter at position ${k + 1} differently (${x} vs ${y})`,
            });
          }
          if (x !== y) break;
        }
      }
    }
  }

  function checkStatuses(routes: readonly StandaloneRoute[]): void {
    for (const r of routes) {
      const e = endpoints.find(
        (x) => x.method === r.method && x.path === r.path,
      );
      if (e === undefined || e.raw) continue;
      const want = r.successStatus ?? 200;
      if (e.successStatus !== want)
        violations.push({
          rule: "success-status",
          where: `${e.file} ${e.name}`,
          message: `${r.method} ${r.path} answers ${want} standalone but ${e.successStatus} under Encore (add an HttpStatus response field set to it)`,
        });
    }
  }

  function checkUsage(id: ts.Identifier): void {
    const parent = id.parent;
    if (
      (ts.isVariableDeclaration(parent) && parent.name === id) ||
      ts.isImportSpecifier(parent) ||
      ts.isImportClause(parent) ||
      ts.isExportSpecifier(parent) ||
      ts.isNamespaceImport(parent) ||
      (ts.isPropertyAccessExpression(parent) && parent.name === id) ||
      (ts.isPropertyAssignment(parent) && parent.name === id)
    )
      return;
    let sym = checker.getSymbolAtLocation(id);
    if (sym === undefined) return;
    if (sym.flags & ts.SymbolFlags.Alias) sym = checker.getAliasedSymbol(sym);
    const kind = resources.get(sym);
    if (kind === undefined) return;
    const member =
      ts.isPropertyAccessExpression(parent) && parent.expression === id;
    const methodCall =
      member &&
      ts.isCallExpression(parent.parent) &&
      parent.parent.expression === parent;
    const argument =
      (ts.isCallExpression(parent) || ts.isNewExpression(parent)) &&
      parent.arguments?.some((a) => a === id) === true;
    const constructorArg =
      ts.isNewExpression(parent) &&
      parent.arguments?.some((a) => a === id) === true;
    const ok =
      kind === "database" ? member || argument : methodCall || constructorArg;
    if (!ok)
      report(
        "resource-usage",
        id,
        kind === "database"
          ? `"invalid use of database resource" ${id.text}: only member access, a method call or a call argument (no arrays, spreads, aliases)`
          : `"invalid metric usage" ${id.text}: only method calls (.with/.increment/.set/.ref)`,
      );
  }

  /** The fields of a request type, with where each travels. */
  function requestFields(type: ts.Type): {
    name: string;
    location: Location;
    optional: boolean;
    wire?: string;
    /** Declared `unknown` or `any`: any JSON value reaches the handler. */
    loose: boolean;
    /** A string on the wire (`string`, `Query<string>`, `Query<"name">`, `Header<...>`). */
    stringly: boolean;
  }[] {
    return type.getProperties().map((s) => {
      const wrapper = typeWrapper(s);
      const location: Location =
        wrapper === "Header"
          ? "header"
          : wrapper === "Query"
            ? "query"
            : wrapper === "Cookie"
              ? "cookie"
              : "body_or_query";
      const decl = s.valueDeclaration;
      let wire: string | undefined;
      if (
        decl !== undefined &&
        ts.isPropertySignature(decl) &&
        decl.type !== undefined &&
        ts.isTypeReferenceNode(decl.type)
      ) {
        const arg = decl.type.typeArguments?.find(
          (a) => ts.isLiteralTypeNode(a) && ts.isStringLiteral(a.literal),
        );
        if (arg !== undefined)
          wire = ((arg as ts.LiteralTypeNode).literal as ts.StringLiteral).text;
      }
      const t =
        decl !== undefined && ts.isPropertySignature(decl)
          ? decl.type
          : undefined;
      const loose =
        t !== undefined &&
        (t.kind === ts.SyntaxKind.UnknownKeyword ||
          t.kind === ts.SyntaxKind.AnyKeyword);
      const first =
        t !== undefined && ts.isTypeReferenceNode(t)
          ? t.typeArguments?.[0]
          : undefined;
      const stringly =
        t !== undefined &&
        (t.kind === ts.SyntaxKind.StringKeyword ||
          ((wrapper === "Query" || wrapper === "Header") &&
            (first === undefined ||
              first.kind === ts.SyntaxKind.StringKeyword ||
              (ts.isLiteralTypeNode(first) &&
                ts.isStringLiteral(first.literal)))));
      return {
        name: s.name,
        location,
        optional: (s.flags & ts.SymbolFlags.Optional) !== 0,
        ...(wire !== undefined ? { wire } : {}),
        loose,
        stringly,
      };
    });
  }

  /** "Header" / "Query" / "Cookie" / "HttpStatus" when a property is typed with that encore.dev wrapper. */
  function typeWrapper(s: ts.Symbol): string | null {
    const decl = s.valueDeclaration;
    if (
      decl === undefined ||
      !ts.isPropertySignature(decl) ||
      decl.type === undefined
    )
      return null;
    const t = decl.type;
    if (!ts.isTypeReferenceNode(t)) return null;
    const name = encoreName(t.typeName);
    return name === "Header" ||
      name === "Query" ||
      name === "Cookie" ||
      name === "HttpStatus"
      ? name
      : null;
  }

  function underService(dir: string): boolean {
    const root = path.resolve(options.root);
    for (let d = dir; d.startsWith(root); d = path.dirname(d)) {
      if (disk.isFile(path.join(d, "encore.service.ts"))) return true;
      if (d === root) break;
    }
    return false;
  }
}

/** Every .ts file under `dir` (relative to root), overlay included. */
function listTs(
  root: string,
  dir: string,
  overlay: ReadonlyMap<string, string>,
): string[] {
  const out = new Set<string>();
  const walk = (d: string): void => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts")) out.add(path.relative(root, p));
    }
  };
  walk(path.join(root, dir));
  const prefix = path.join(root, dir) + path.sep;
  for (const f of overlay.keys())
    if (f.startsWith(prefix) && f.endsWith(".ts"))
      out.add(path.relative(root, f));
  return [...out].sort();
}

/** Parsed library files, shared by every check in this process. */
const parsed = new Map<string, ts.SourceFile>();

function createProgram(
  files: string[],
  overlay: ReadonlyMap<string, string>,
): ts.Program {
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    allowSyntheticDefaultImports: true,
    types: ["node"],
  };
  const host = ts.createCompilerHost(options, true);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (f) => overlay.has(f) || fileExists.call(host, f);
  // Module resolution looks for a folder before its files: fixtures import each other.
  const { directoryExists } = host;
  host.directoryExists = (d) =>
    [...overlay.keys()].some((k) => k.startsWith(d + path.sep)) ||
    (directoryExists?.call(host, d) ?? fs.existsSync(d));
  host.readFile = (f) => overlay.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, lang, onError, create) => {
    const text = overlay.get(f);
    if (text !== undefined) return ts.createSourceFile(f, text, lang, true);
    // lib.d.ts, @types/node and encore.dev are the same for every check: parse them once.
    let sf = parsed.get(f);
    if (sf === undefined) {
      sf = getSourceFile.call(host, f, lang, onError, create);
      if (sf !== undefined && f.includes("node_modules")) parsed.set(f, sf);
    }
    return sf;
  };
  return ts.createProgram(files, options, host);
}

function overlayDisk(overlay: ReadonlyMap<string, string>) {
  const keys = [...overlay.keys()];
  return {
    isFile: (p: string) =>
      overlay.has(p) || (fs.existsSync(p) && fs.statSync(p).isFile()),
    isDir: (p: string) =>
      keys.some((k) => k.startsWith(p + path.sep)) ||
      (fs.existsSync(p) && fs.statSync(p).isDirectory()),
    list: (p: string) => {
      const names = new Set(
        keys
          .filter((k) => k.startsWith(p + path.sep))
          .map((k) => k.slice(p.length + 1).split(path.sep)[0]!),
      );
      if (fs.existsSync(p) && fs.statSync(p).isDirectory())
        for (const n of fs.readdirSync(p)) names.add(n);
      return [...names];
    },
  };
}

function isTopLevelConst(decl: ts.VariableDeclaration): boolean {
  const list = decl.parent;
  return (
    ts.isVariableDeclarationList(list) &&
    (list.flags & ts.NodeFlags.Const) !== 0 &&
    ts.isVariableStatement(list.parent) &&
    ts.isSourceFile(list.parent.parent)
  );
}

function property(
  obj: ts.ObjectLiteralExpression,
  name: string,
): ts.Expression | undefined {
  for (const p of obj.properties)
    if (
      ts.isPropertyAssignment(p) &&
      ts.isIdentifier(p.name) &&
      p.name.text === name
    )
      return p.initializer;
  return undefined;
}

/** The value of a literal option (string, number, boolean, null, array of those), else undefined. */
function literalValue(
  e: ts.Expression,
): string | number | boolean | string[] | undefined {
  if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e))
    return e.text;
  if (ts.isNumericLiteral(e)) return Number(e.text);
  if (e.kind === ts.SyntaxKind.TrueKeyword) return true;
  if (e.kind === ts.SyntaxKind.FalseKeyword) return false;
  if (e.kind === ts.SyntaxKind.NullKeyword) return "null";
  if (ts.isArrayLiteralExpression(e)) {
    const items = e.elements.map((x) =>
      ts.isStringLiteral(x) ? x.text : undefined,
    );
    return items.every((x) => x !== undefined)
      ? (items as string[])
      : undefined;
  }
  return undefined;
}

/** T of a `Promise<T>` annotation. */
function promised(t: ts.TypeNode | undefined): ts.TypeNode | undefined {
  if (
    t !== undefined &&
    ts.isTypeReferenceNode(t) &&
    t.typeName.getText() === "Promise"
  )
    return t.typeArguments?.[0];
  return t;
}

/**
 * `npm run check:new-domain`: follows docs/domain-services.md once, as a
 * newcomer would, in a throwaway copy of this working tree. It adds a small
 * third domain, `notes` (create a note, get one), touching only its folder,
 * one migration and the composition root's list (plus the domain's own test
 * file). Then it prints the diff stat and runs, in the copy, both
 * type-checks and the suites that hold a domain to both front doors:
 * Encore's rules, the house rules, the HTTP contract, the Encore path and
 * the new domain's test (standalone and Encore). Exit code 0 when all pass.
 *
 * `--keep` leaves the copy in place (its path is printed).
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const keep = process.argv.includes("--keep");
const work = path.join(root, ".data", `new-domain-check-${process.pid}`);

/** The new domain, file by file, as the guide's steps write it. */
const FILES: Record<string, string> = {
  // Step 1: the service folder.
  "backend/notes/encore.service.ts": `import { Service } from "encore.dev/service";

/** Encore service "notes": short notes per org. */
export default new Service("notes");
`,
  // Step 2: a migration, in the primary's database.
  "backend/database/migrations/5_create_notes.up.sql": `-- Notes domain (backend/notes/): one short note per row, owned by one org.
CREATE TABLE notes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id     bigint      NOT NULL CHECK (org_id >= 0),
    text       text        NOT NULL CHECK (length(text) BETWEEN 1 AND 500),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notes_org_id_idx ON notes (org_id, id);
`,
  // Step 3: the repository.
  "backend/notes/note_repository.ts": `import type { Row } from "../database/router/index";
import { BaseRepository } from "../shared/repositories/base_repository";

/** A note as clients see it. */
export interface Note {
  id: string;
  orgId: number;
  text: string;
  createdAt: string;
}

const COLUMNS = \`id::text AS id, text,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at\`;

/** Notes: writes on the org's primary, reads on a replica that may serve them. */
export class NoteRepository extends BaseRepository {
  async create(orgId: number, text: string): Promise<Note> {
    const row = await this.getWriteConnection(orgId).rawQueryRow(
      \`INSERT INTO notes (org_id, text) VALUES ($1, $2) RETURNING \${COLUMNS}\`,
      orgId,
      text,
    );
    return toNote(orgId, row!);
  }

  async get(orgId: number, id: string): Promise<Note | null> {
    const row = await this.getReadConnection({ orgId }).rawQueryRow(
      \`SELECT \${COLUMNS} FROM notes WHERE org_id = $1 AND id = $2::bigint\`,
      orgId,
      id,
    );
    return row === null ? null : toNote(orgId, row);
  }
}

function toNote(orgId: number, row: Row): Note {
  return {
    id: String(row.id),
    orgId,
    text: String(row.text),
    createdAt: String(row.created_at),
  };
}
`,
  // Step 4: the handlers.
  "backend/notes/note_handlers.ts": `import { z } from "zod";
import { NotFoundError } from "../database/router/index";
import type { RouteDef } from "../shared/http/route";
import {
  parseBody,
  parseId,
  parseOrgId,
  textSchema,
} from "../shared/http/validation";
import type { Note, NoteRepository } from "./note_repository";

/** The notes endpoints by name; each is \`notes.<name>\`. */
export type NoteEndpoints = {
  readonly createNote: RouteDef<Note>;
  readonly getNote: RouteDef<Note>;
};

const CREATE_BODY = z.strictObject({
  text: textSchema(500).refine((s) => s.trim() !== "", {
    error: "must not be empty",
  }),
});

export function noteEndpoints(repo: NoteRepository): NoteEndpoints {
  return {
    createNote: {
      method: "POST",
      path: "/v1/notes/orgs/:orgId/notes",
      endpoint: "notes.createNote",
      successStatus: 201,
      async handle({ params, body }): Promise<Note> {
        const orgId = parseOrgId(params.orgId);
        const { text } = parseBody(CREATE_BODY, body);
        return repo.create(orgId, text);
      },
    },
    getNote: {
      method: "GET",
      path: "/v1/notes/orgs/:orgId/notes/:id",
      endpoint: "notes.getNote",
      async handle({ params }): Promise<Note> {
        const orgId = parseOrgId(params.orgId);
        const id = parseId(params.id);
        const note = await repo.get(orgId, id);
        if (note === null) throw new NotFoundError(\`note \${id} not found\`);
        return note;
      },
    },
  };
}
`,
  // Step 5: the domain.
  "backend/notes/domain.ts": `import { defineDomain } from "../shared/domain";
import { noteEndpoints } from "./note_handlers";
import { NoteRepository } from "./note_repository";

/** The notes service: its repository on the process's router, and its endpoints. */
export const notesDomain = defineDomain("notes", ({ router }) =>
  noteEndpoints(new NoteRepository(router)),
);
`,
  // Step 6: the Encore front door.
  "backend/notes/api.ts": `import { api, HttpStatus, type Header } from "encore.dev/api";
import { call, mount } from "../database/encore/bridge";
import { notesDomain } from "./domain";
import type { Note } from "./note_repository";

/** Headers every notes endpoint reads, as standalone does. */
interface RouterRequestHeaders {
  /** \`strong | eventual | bounded=<seconds>\`. */
  consistency?: Header<"X-Consistency">;
  /** The token a write returned: read-your-writes. */
  consistencyToken?: Header<"X-Consistency-Token">;
  /** A request with a body must send JSON (a 400 otherwise; standalone 415). */
  contentType?: Header<"Content-Type">;
}

/** Path and body of a create request. */
interface CreateNoteRequest extends RouterRequestHeaders {
  orgId: string;
  /** 1..500 characters (required). */
  text?: unknown;
}

/** Path of a single-note request. */
interface GetNoteRequest extends RouterRequestHeaders {
  orgId: string;
  id: string;
}

/** One note, plus the routing headers. */
interface NoteResponse extends Note {
  servedBy: Header<"X-Served-By">;
  consistencyToken?: Header<"X-Consistency-Token">;
}

/** A created note: 201, as standalone. */
interface CreatedNoteResponse extends NoteResponse {
  httpStatus: HttpStatus;
}

/** This service's handlers, built on the process's router. */
const notes = mount(notesDomain);

export const createNote = api(
  {
    expose: true,
    auth: true,
    sensitive: true,
    method: "POST",
    bodyLimit: 1048576,
    path: "/v1/notes/orgs/:orgId/notes",
  },
  async (req: CreateNoteRequest): Promise<CreatedNoteResponse> => ({
    ...(await call(
      notes.createNote,
      { params: { orgId: req.orgId }, query: {}, body: { text: req.text } },
      req,
    )),
    httpStatus: HttpStatus.Created,
  }),
);

export const getNote = api(
  {
    expose: true,
    auth: true,
    sensitive: true,
    method: "GET",
    path: "/v1/notes/orgs/:orgId/notes/:id",
  },
  async (req: GetNoteRequest): Promise<NoteResponse> =>
    call(
      notes.getNote,
      { params: { orgId: req.orgId, id: req.id }, query: {}, body: undefined },
      req,
    ),
);
`,
  // Step 8: the domain's test, both front doors against the suite's cluster.
  "test/integration/notes.test.ts": `import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { startTestApp, type TestApp } from "./helpers/app";
import { orgIdBlock } from "./helpers/http";
import type { EncoreInstance } from "./helpers/encore_runtime";

const standIns = await vi.hoisted(() => import("./helpers/encore_runtime"));
vi.mock("encore.dev", () => standIns.root());
vi.mock("encore.dev/api", () => standIns.api());
vi.mock("encore.dev/auth", () => standIns.auth());
vi.mock("encore.dev/internal/codegen/auth", () => standIns.authData());
vi.mock("encore.dev/config", () => standIns.config());
vi.mock("encore.dev/storage/sqldb", () => standIns.sqldb());
vi.mock("encore.dev/metrics", () => standIns.metrics());
vi.mock("../../node_modules/encore.dev/internal/runtime/mod.ts", () =>
  standIns.runtime(),
);
vi.mock("encore.dev/storage/cache", () => standIns.cache());

const { primaryUrl, replicaUrls } = inject("clusterUrls");
const [org, other] = orgIdBlock(2).map(String) as [string, string];

describe("notes under the standalone server", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(primaryUrl, replicaUrls);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("creates a note (201, token), reads it back with the token, hides it from another org", async () => {
    const created = await t.call("POST", \`/v1/notes/orgs/\${org}/notes\`, {
      text: "hello",
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ orgId: Number(org), text: "hello" });
    const token = created.headers.get("x-consistency-token");
    expect(token).toMatch(/^main:/);
    const read = await t.call(
      "GET",
      \`/v1/notes/orgs/\${org}/notes/\${created.body.id}\`,
      undefined,
      { "X-Consistency-Token": token! },
    );
    expect(read.status).toBe(200);
    expect(read.body).toEqual(created.body);
    const foreign = await t.call(
      "GET",
      \`/v1/notes/orgs/\${other}/notes/\${created.body.id}\`,
    );
    expect(foreign.status).toBe(404);
    const bad = await t.call("POST", \`/v1/notes/orgs/\${org}/notes\`, {});
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain("text");
  });
});

describe("notes under Encore", () => {
  const ADMIN = "notes-admin-token-0123456789";
  let encore: EncoreInstance;
  let auth = "";
  beforeAll(async () => {
    standIns.encoreRuntime().databases = new Map([
      ["primary", primaryUrl],
      ["replica_1", replicaUrls[0]!],
      ["replica_2", replicaUrls[1]!],
      ["replica_3", primaryUrl],
    ]);
    encore = await standIns.loadEncoreInstance(
      { CursorSecret: "notes-cursor-secret-0123456789", AdminToken: ADMIN },
      { FLEET_NAME: \`notes-\${process.pid}-\${Date.now()}\` },
    );
    // A key for the org, issued through the admin API as an operator would.
    const issued = await standIns.callEndpoint(encore.database.issueApiKey!, {
      authorization: \`Bearer \${ADMIN}\`,
      userId: "notes-test",
      orgIds: [Number(org)],
    });
    if (!issued.ok) throw new Error(\`issue failed: \${issued.code}\`);
    auth = \`Bearer \${issued.body.key}\`;
  });
  afterAll(async () => {
    await encore?.close();
  });

  it("creates and reads a note through the api() endpoints", async () => {
    const notes = encore.domains.notes!;
    const created = await standIns.callEndpoint(
      notes.createNote!,
      { orgId: org, text: "from Encore" },
      auth,
    );
    if (!created.ok) throw new Error(\`create failed: \${created.code}\`);
    expect(created.body).toMatchObject({ text: "from Encore", httpStatus: 201 });
    expect(created.body.consistencyToken).toMatch(/^main:/);
    const read = await standIns.callEndpoint(
      notes.getNote!,
      {
        orgId: org,
        id: created.body.id,
        consistencyToken: created.body.consistencyToken,
      },
      auth,
    );
    if (!read.ok) throw new Error(\`get failed: \${read.code}\`);
    expect(read.body.text).toBe("from Encore");
    // Another org: the key does not grant it (before any query).
    const foreign = await standIns.callEndpoint(
      notes.getNote!,
      { orgId: other, id: created.body.id },
      auth,
    );
    expect(foreign).toMatchObject({ ok: false, code: "permission_denied" });
  });
});
`,
};

/** Step 5's line: the domain joins the composition root's list. */
function addToDomainList(text: string): string {
  const withImport = text.replace(
    /(import \{ invoicesDomain \} from "\.\/invoices\/domain";\n)/,
    `$1import { notesDomain } from "./notes/domain";\n`,
  );
  const withEntry = withImport.replace(
    /(\n  invoicesDomain,\n)/,
    "$1  notesDomain,\n",
  );
  if (withEntry === withImport || withImport === text)
    throw new Error("backend/domains.ts no longer has the expected list");
  return withEntry;
}

function run(cmd: string, args: string[], cwd = work): void {
  console.log(`\n$ ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { cwd, stdio: "inherit", env: process.env });
  if (r.status !== 0) throw new Error(`${cmd} ${args[0]} failed (${r.status})`);
}

function git(...args: string[]): string {
  return execFileSync(
    "git",
    ["-c", "user.name=check", "-c", "user.email=check@localhost", ...args],
    { cwd: work, encoding: "utf8" },
  );
}

function main(): void {
  const files = execFileSync(
    "git",
    ["ls-files", "--cached", "--others", "--exclude-standard"],
    { cwd: root, encoding: "utf8" },
  )
    .split("\n")
    .filter((f) => f !== "" && fs.existsSync(path.join(root, f)));
  fs.mkdirSync(work, { recursive: true });
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(work, f)), { recursive: true });
    fs.copyFileSync(path.join(root, f), path.join(work, f));
  }
  fs.symlinkSync(
    path.join(root, "node_modules"),
    path.join(work, "node_modules"),
  );
  git("init", "-q");
  git("add", "-A");
  git("commit", "-q", "-m", "baseline");

  for (const [f, text] of Object.entries(FILES)) {
    fs.mkdirSync(path.dirname(path.join(work, f)), { recursive: true });
    fs.writeFileSync(path.join(work, f), text);
  }
  const list = path.join(work, "backend/domains.ts");
  fs.writeFileSync(list, addToDomainList(fs.readFileSync(list, "utf8")));
  // As \`npm run format\` would, on what this change touched.
  run("npx", [
    "prettier",
    "--log-level",
    "warn",
    "--write",
    ...Object.keys(FILES).filter((f) => f.endsWith(".ts")),
    "backend/domains.ts",
  ]);
  git("add", "-A");
  console.log(`A third domain in ${path.relative(root, work)}:\n`);
  console.log(git("diff", "--cached", "--stat"));
  // The guide's promise: its folder, one migration, the composition root's
  // list, and its own test; no other file changes.
  const touched = git("diff", "--cached", "--name-only").trim().split("\n");
  const outside = touched.filter(
    (f) =>
      !f.startsWith("backend/notes/") &&
      !/^backend\/database\/migrations\/\d+_create_notes\.up\.sql$/.test(f) &&
      f !== "backend/domains.ts" &&
      f !== "test/integration/notes.test.ts",
  );
  if (outside.length > 0)
    throw new Error(
      `the new domain touched other files: ${outside.join(", ")}`,
    );

  run("npx", ["prettier", "--check", "backend", "scripts", "test"]);
  run("npx", ["tsc", "-p", "tsconfig.json"]);
  run("npx", ["tsc", "-p", "tsconfig.core.json"]);
  run("npx", [
    "vitest",
    "run",
    "test/unit/encore_conformance.test.ts",
    "test/unit/house_rules.test.ts",
    "test/unit/import_cycles.test.ts",
    "test/unit/domain_guide.test.ts",
    "test/integration/contract.test.ts",
    "test/integration/encore_path.test.ts",
    "test/integration/notes.test.ts",
  ]);
  console.log(
    "\nThe notes domain type-checks and is served by both front doors.",
  );
}

try {
  main();
} catch (err) {
  console.error(`\n${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  if (keep) console.log(`kept: ${work}`);
  else fs.rmSync(work, { recursive: true, force: true });
}

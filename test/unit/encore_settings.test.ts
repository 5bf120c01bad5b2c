import { describe, expect, it } from "vitest";
import {
  encoreEnvironment,
  type EncoreSecretValues,
} from "../../backend/database/encore/settings";
import { ConfigError } from "../../backend/database/router/config/config";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { CursorCodec } from "../../backend/shared/http/cursor";

const declared = {
  primaryUrl: "postgresql://encore:pw-proxy@127.0.0.1:9500/primary",
  replicaUrls: [
    "postgresql://encore:pw-proxy@127.0.0.1:9500/replica_1",
    "postgresql://encore:pw-proxy@127.0.0.1:9500/replica_2",
    "postgresql://encore:pw-proxy@127.0.0.1:9500/replica_3",
  ],
};
const none: EncoreSecretValues = {
  adminToken: "",
  replicaUrls: "",
  monitoringToken: "",
};
const SECRET_URL = "postgres://ro:Secr3tReplicaPw@replica-4.internal:5432/app";
const ENV_URL = "postgres://ro:EnvReplicaPw@replica-env.internal:5432/app";

/** The router config Encore would build from `secrets` and `env`. */
function configFrom(
  secrets: Partial<EncoreSecretValues>,
  env: Record<string, string> = {},
) {
  return loadConfig(encoreEnvironment(env, { ...none, ...secrets }, declared));
}

/** The error `fn` throws, as text (message and issues). */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof ConfigError
      ? `${err.message}\n${err.issues.join("\n")}`
      : String(err);
  }
  throw new Error("expected an error");
}

describe("Encore configuration: secrets win when set, the environment otherwise", () => {
  it("replicas: declared databases first, then the ReplicaUrls secret (JSON array or comma list)", () => {
    for (const raw of [
      JSON.stringify([SECRET_URL]),
      ` ${SECRET_URL} , `,
      `[" ${SECRET_URL}"]`,
    ]) {
      const c = configFrom(
        { replicaUrls: raw },
        { READ_REPLICA_URLS: ENV_URL },
      );
      const main = c.router.clusters[0]!;
      expect(main.primaryUrl).toBe(declared.primaryUrl);
      expect(main.replicas.map((r) => [r.name, r.url])).toEqual([
        ["replica_1", declared.replicaUrls[0]],
        ["replica_2", declared.replicaUrls[1]],
        ["replica_3", declared.replicaUrls[2]],
        ["replica_4", SECRET_URL],
      ]);
    }
  });

  it("replicas: READ_REPLICA_URLS when the secret is empty; none with []", () => {
    const fromEnv = configFrom({}, { READ_REPLICA_URLS: ENV_URL });
    expect(fromEnv.router.clusters[0]!.replicas.at(-1)!.url).toBe(ENV_URL);
    const empty = configFrom(
      { replicaUrls: "[]" },
      { READ_REPLICA_URLS: ENV_URL },
    );
    expect(empty.router.clusters[0]!.replicas).toHaveLength(3);
  });

  it("admin token: the secret, else ADMIN_TOKEN; 'disabled' turns the admin API off", () => {
    const token = "secret-admin-token-0123456789";
    const envToken = "env-admin-token-0123456789";
    expect(configFrom({ adminToken: token }).adminToken).toBe(token);
    expect(
      configFrom({ adminToken: token }, { ADMIN_TOKEN: envToken }).adminToken,
    ).toBe(token);
    expect(configFrom({}, { ADMIN_TOKEN: envToken }).adminToken).toBe(envToken);
    expect(
      configFrom({ adminToken: "disabled" }, { ADMIN_TOKEN: envToken })
        .adminToken,
    ).toBeNull();
    expect(configFrom({}).adminToken).toBeNull();
  });

  it("monitoring token: the secret, else MONITORING_TOKEN; 'open' leaves monitoring open; a short one is refused unseen", () => {
    const token = "secret-monitor-token-0123456789";
    const envToken = "env-monitor-token-0123456789";
    expect(configFrom({ monitoringToken: token }).monitoringToken).toBe(token);
    expect(
      configFrom({ monitoringToken: token }, { MONITORING_TOKEN: envToken })
        .monitoringToken,
    ).toBe(token);
    expect(configFrom({}, { MONITORING_TOKEN: envToken }).monitoringToken).toBe(
      envToken,
    );
    expect(
      configFrom({ monitoringToken: "open" }, { MONITORING_TOKEN: envToken })
        .monitoringToken,
    ).toBeNull();
    const err = errorOf(() => configFrom({ monitoringToken: "short-one" }));
    expect(err).toContain("MonitoringToken");
    expect(err).not.toContain("short-one");
  });

  it("the cursor key: CursorSecret, else CURSOR_SECRET; instances sharing it read each other's cursors", () => {
    const scope = { orgId: 7, kind: "revenues", filterHash: "f" } as const;
    const position = { occurredAt: "2026-01-01T00:00:00.000000Z", id: "5" };
    const a = CursorCodec.fromSecretOrSetting("cursor-secret-0123456789", null);
    const b = CursorCodec.fromSecretOrSetting(
      "cursor-secret-0123456789",
      "another-env-secret-0123",
    );
    expect(b.decode(a.encode(scope, position), scope)).toEqual(position);
    const env = CursorCodec.fromSecretOrSetting("", "env-cursor-secret-0123");
    const env2 = CursorCodec.fromSetting("env-cursor-secret-0123");
    expect(env2.decode(env.encode(scope, position), scope)).toEqual(position);
    expect(() => a.decode(env.encode(scope, position), scope)).toThrow(
      /cursor/,
    );
  });

  it("a bad secret stops start-up naming the secret, never showing its value", () => {
    const cases: [string, RegExp][] = [
      [
        '["postgres://ro:Secr3tReplicaPw@',
        /ReplicaUrls \(secret\): not valid JSON/,
      ],
      ['{"url":"Secr3tReplicaPw"}', /ReplicaUrls \(secret\)/],
      ['["postgres://ro:Secr3tReplicaPw@h/app", 7]', /JSON array of strings/],
      [
        "mysql://ro:Secr3tReplicaPw@h/app",
        /ReplicaUrls \(secret\)\[1\]: not a postgres/,
      ],
      [`${SECRET_URL},http://Secr3tReplicaPw@x`, /ReplicaUrls \(secret\)\[2\]/],
      [
        '["postgres://ro:Secr3tReplicaPw,x@h/app"]',
        /ReplicaUrls \(secret\)\[1\]: contains a comma/,
      ],
    ];
    for (const [raw, expected] of cases) {
      const text = errorOf(() => configFrom({ replicaUrls: raw }));
      expect(text).toMatch(expected);
      expect(text).not.toContain("Secr3tReplicaPw");
    }
    const shortToken = errorOf(() => configFrom({ adminToken: "Sh0rtPw" }));
    expect(shortToken).toContain("AdminToken (secret)");
    expect(shortToken).not.toContain("Sh0rtPw");
    const shortCursor = errorOf(() =>
      CursorCodec.fromSecretOrSetting("Sh0rtCursorPw", null),
    );
    expect(shortCursor).toContain("CursorSecret (secret)");
    expect(shortCursor).not.toContain("Sh0rtCursorPw");
  });
});

describe("zones under Encore: the ReplicaUrls secret carries them", () => {
  it("a replica's zone and the service's zone come from the secret's object form", () => {
    const c = configFrom({
      replicaUrls: JSON.stringify({
        serviceZone: "eu-west-1a",
        replicas: [{ url: SECRET_URL, zone: "eu-west-1b" }, ENV_URL],
      }),
    });
    expect(c.router.serviceZone).toBe("eu-west-1a");
    expect(
      c.router.clusters[0]!.replicas.map((r) => [r.name, r.zone ?? null]),
    ).toEqual([
      ["replica_1", null],
      ["replica_2", null],
      ["replica_3", null],
      ["replica_4", "eu-west-1b"],
      ["replica_5", null],
    ]);
  });
  it("a deployment's SERVICE_ZONE wins over the secret's; a secret without replicas keeps READ_REPLICA_URLS", () => {
    const c = configFrom(
      { replicaUrls: JSON.stringify({ serviceZone: "eu-west-1a" }) },
      { SERVICE_ZONE: "eu-west-1c", READ_REPLICA_URLS: ENV_URL },
    );
    expect(c.router.serviceZone).toBe("eu-west-1c");
    expect(c.router.clusters[0]!.replicas.at(-1)!.url).toBe(ENV_URL);
  });
  it("a bad serviceZone in the secret is refused without showing it", () => {
    const text = errorOf(() =>
      configFrom({
        replicaUrls: JSON.stringify({ serviceZone: "Secr3tReplicaPw!" }),
      }),
    );
    expect(text).toContain("ReplicaUrls (secret).serviceZone");
    expect(text).not.toContain("Secr3tReplicaPw");
  });
  it("a bad zone in the secret stops start-up naming the secret, not the URL", () => {
    const text = errorOf(() =>
      configFrom({
        replicaUrls: JSON.stringify([{ url: SECRET_URL, zone: "bad zone!" }]),
      }),
    );
    expect(text).toContain("ReplicaUrls (secret)[1].zone");
    expect(text).not.toContain("Secr3tReplicaPw");
  });
});

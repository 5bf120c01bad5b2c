/**
 * A replica URL given at run time (admin API, or stored by another
 * instance) names a PostgreSQL server on the network and nothing else: no
 * other host by parameter, no Unix socket, no file of this machine; within
 * REPLICA_HOST_ALLOWLIST when it is set.
 */
import { describe, expect, it } from "vitest";
import {
  runtimeReplicaUrlProblem,
  withConfiguredRootCert,
} from "../../backend/database/router/config/replica_url";

describe("runtimeReplicaUrlProblem", () => {
  it.each([
    "postgres://u:pw@10.0.0.12:5432/app",
    "postgresql://u@replica-1.db.internal/app?sslmode=require&application_name=x",
    "postgres://u@[2001:db8::1]:5432/app",
  ])("accepts %s", (url) => {
    expect(runtimeReplicaUrlProblem(url, [])).toBeNull();
  });

  it.each([
    ["postgres://u@h/app?host=/var/run/postgresql", /host parameter/],
    ["postgres://u@h/app?hostaddr=10.9.9.9", /hostaddr parameter/],
    ["postgres://u@h/app?sslrootcert=/etc/hostname", /sslrootcert parameter/],
    ["postgres://u@h/app?SSLKEY=/root/.ssh/id_rsa", /SSLKEY parameter/],
    ["postgres://u@h/app?sslcert=/x&sslcrl=/y", /parameter/],
    ["postgres://u@h/app?passfile=/etc/shadow", /passfile parameter/],
    ["postgres://u@%2Ftmp/app", /Unix socket/],
    ["http://u@h/app", /postgres/],
    ["not a url", /not a URL/],
    ["postgres://u@%zz/app", /malformed host/],
  ])("refuses %s", (url, why) => {
    expect(runtimeReplicaUrlProblem(url, [])).toMatch(why);
  });

  it("keeps to REPLICA_HOST_ALLOWLIST when it is set", () => {
    const allow = ["*.db.internal", "10.0.2.*", "replica-9.example.com"];
    for (const ok of [
      "postgres://u@r1.db.internal/app",
      "postgres://u@R2.DB.INTERNAL/app",
      "postgres://u@10.0.2.17:5432/app",
      "postgres://u@replica-9.example.com/app",
    ])
      expect(runtimeReplicaUrlProblem(ok, allow), ok).toBeNull();
    for (const no of [
      "postgres://u@db.internal.evil.com/app",
      "postgres://u@10.0.20.1/app",
      "postgres://u@169.254.169.254/app",
      "postgres://u@replica-9xexample.com/app",
      "postgres://u@10.0.2.1.attacker.example/app", // * stays within one label
      "postgres://u@x.r1.db.internal.evil.net/app",
    ])
      expect(runtimeReplicaUrlProblem(no, allow), no).toMatch(
        /REPLICA_HOST_ALLOWLIST/,
      );
  });
});

describe("withConfiguredRootCert", () => {
  it("gives a run-time replica the configured CA bundle; none configured, the URL as given", () => {
    const url = "postgres://u:pw@r1.db.internal/app?sslmode=verify-full";
    expect(withConfiguredRootCert(url, null)).toBe(url);
    const withCa = new URL(
      withConfiguredRootCert(url, "/etc/ssl/replicas-ca.pem"),
    );
    expect(withCa.searchParams.get("sslrootcert")).toBe(
      "/etc/ssl/replicas-ca.pem",
    );
    expect(withCa.searchParams.get("sslmode")).toBe("verify-full");
    expect(withCa.password).toBe("pw");
  });
});

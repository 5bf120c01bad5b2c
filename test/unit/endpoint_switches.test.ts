/**
 * The admin's per-endpoint switches name an endpoint: one of a service this
 * process serves must exist (a typo is a 404, nothing is stored); one of a
 * service Encore may run in another process is checked for its form only.
 */
import { describe, expect, it } from "vitest";
import { adminRoutes } from "../../backend/database/http/admin_routes";
import type { FleetControl } from "../../backend/database/control/fleet_control";
import type { RouterRoles } from "../../backend/database/router/roles";

function setup() {
  const stored: unknown[] = [];
  const control = {
    change: async (change: unknown) => {
      stored.push(change);
      return stored.length;
    },
  } as unknown as FleetControl;
  const router = {
    readSwitches: () => ({
      enabled: true,
      enabledEndpoints: null,
      disabledEndpoints: [],
    }),
  } as unknown as RouterRoles;
  const known = {
    services: new Set(["database", "finance"]),
    endpoints: new Set(["finance.listRevenues"]),
  };
  const route = adminRoutes(router, control, () => known).find(
    (r) => r.endpoint === "database.setEndpointReplicaReads",
  )!;
  const put = (endpoint: string) =>
    route.handle({
      params: { endpoint },
      query: {},
      body: { enabled: false },
    });
  return { put, stored };
}

describe("per-endpoint switches", () => {
  it("store a switch for an endpoint of a service served here", async () => {
    const { put, stored } = setup();
    await put("finance.listRevenues");
    expect(stored).toHaveLength(1);
  });

  it("refuse an unknown endpoint of a service served here with a 404, storing nothing", async () => {
    const { put, stored } = setup();
    await expect(put("finance.listRevenuez")).rejects.toMatchObject({
      code: "not_found",
    });
    expect(stored).toEqual([]);
  });

  it("take an endpoint of a service served elsewhere, checked for its form only", async () => {
    const { put, stored } = setup();
    await put("invoices.listInvoices");
    expect(stored).toHaveLength(1);
    await expect(put("invoices")).rejects.toMatchObject({
      code: "invalid_argument",
    });
    expect(stored).toHaveLength(1);
  });
});

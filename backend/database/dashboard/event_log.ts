import type { Logger } from "../router/index";

/** One event as the dashboard and GET .../replicas/events show it. */
export interface RouterEvent {
  at: string;
  kind: "health" | "circuit" | "classifier" | "admin";
  level: "info" | "warn";
  node: string | null;
  message: string;
}

/** Body of GET /v1/system/database/replicas/events. */
export interface EventsResponse {
  /** Newest first. */
  events: RouterEvent[];
}

/** Events kept (and shown). */
export const EVENT_CAPACITY = 50;

type Fields = Record<string, unknown> | undefined;

/** An event, and what a caller without the token reads of it. */
interface Recorded {
  readonly event: RouterEvent;
  readonly publicMessage: string;
}

/**
 * The last {@link EVENT_CAPACITY} events an operator wants to see: health
 * changes, breaker transitions, classifier misses and admin changes. Fed by
 * {@link tee}, which wraps the service's logger: the router already logs
 * each of these exactly once, with the fields the event needs, so no second
 * set of hooks runs on the router's paths. Log fields never hold a
 * password or a connection string (logger.ts), so neither do events.
 */
export class EventLog {
  private readonly ring: (Recorded | undefined)[] = new Array(EVENT_CAPACITY);
  private next = 0;
  private size = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** A logger that writes to `logger` and records the lines that are events. */
  tee(logger: Logger): Logger {
    const line =
      (level: "info" | "warn" | "error") =>
      (message: string, fields?: Fields) => {
        logger[level](message, fields);
        this.fromLog(level === "info" ? "info" : "warn", message, fields);
      };
    return { info: line("info"), warn: line("warn"), error: line("error") };
  }

  /**
   * Records one event. `publicMessage` is what a caller without the
   * monitoring token reads: no actor, no error text (default `message`).
   */
  add(event: Omit<RouterEvent, "at">, publicMessage?: string): void {
    const at = new Date(this.now()).toISOString();
    this.ring[this.next] = {
      event: { ...event, message: event.message.slice(0, 300), at },
      publicMessage: (publicMessage ?? event.message).slice(0, 300),
    };
    this.next = (this.next + 1) % EVENT_CAPACITY;
    this.size = Math.min(this.size + 1, EVENT_CAPACITY);
  }

  /** Newest first; the full messages only when `privileged` (token holders). */
  snapshot(privileged = false): EventsResponse {
    const events: RouterEvent[] = [];
    for (let i = 1; i <= this.size; i++) {
      const r = this.ring[(this.next - i + EVENT_CAPACITY) % EVENT_CAPACITY]!;
      events.push(
        privileged ? r.event : { ...r.event, message: r.publicMessage },
      );
    }
    return { events };
  }

  private fromLog(level: "info" | "warn", message: string, f: Fields): void {
    const text = (k: string) => {
      const v = f?.[k];
      return typeof v === "string" || typeof v === "number" ? String(v) : null;
    };
    const node = text("node");
    // Reasons can quote a server's error text; actors are people: both only
    // for token holders.
    if (message === "node health changed")
      this.add(
        {
          kind: "health",
          level,
          node,
          message: `${node}: ${text("from")} → ${text("to")} (${text("reason")})`,
        },
        `${node}: ${text("from")} → ${text("to")}`,
      );
    else if (message === "circuit breaker state changed")
      this.add(
        {
          kind: "circuit",
          level,
          node,
          message: `${node}: circuit ${text("from")} → ${text("to")} (${text("reason")})`,
        },
        `${node}: circuit ${text("from")} → ${text("to")}`,
      );
    else if (message.startsWith("classifier miss"))
      this.add({
        kind: "classifier",
        level,
        node,
        message: `${text("endpoint") ?? "(no endpoint)"}: a replica refused ${text("shape") ?? "a statement"} as a write; sent to the primary from now on`,
      });
    else if (message.startsWith("admin: "))
      this.add(
        {
          kind: "admin",
          level,
          node: null,
          message: `${message.slice(7)}: ${text("target") ?? ""}${text("actor") !== null ? ` by ${text("actor")}` : ""}`,
        },
        `${message.slice(7)}: ${text("target") ?? ""}`,
      );
    else if (message === "fleet control: setting applied from the store")
      this.add({
        kind: "admin",
        level,
        node: null,
        message: `applied ${text("key")} (version ${text("version")}) changed through another instance`,
      });
  }
}

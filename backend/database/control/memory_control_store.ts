import { keyText } from "./control_state";
import {
  NameTakenError,
  type AuditEntry,
  type ChangeOrigin,
  type ControlChange,
  type ControlStore,
  type Heartbeat,
  type HeartbeatRow,
  type StoredRow,
} from "./control_store";

/**
 * The control state of a single instance (FLEET_CONTROL=local): the same
 * contract in this process's memory, lost on restart.
 */
export class MemoryControlStore implements ControlStore {
  private current = 0;
  private readonly rows = new Map<string, StoredRow>();
  private readonly trail: AuditEntry[] = [];
  private beat: (Heartbeat & { atMs: number }) | null = null;

  async version(): Promise<number> {
    return this.current;
  }

  async load(): Promise<{ version: number; rows: StoredRow[] }> {
    return { version: this.current, rows: [...this.rows.values()] };
  }

  async commit(change: ControlChange, origin: ChangeOrigin): Promise<number> {
    for (const k of change.requireAbsent ?? []) {
      const value = this.rows.get(keyText(k))?.value as
        { present?: unknown } | undefined;
      if (value?.present === true) throw new NameTakenError(k.cluster, k.name);
    }
    const version = ++this.current;
    for (const s of change.set)
      this.rows.set(keyText(s.key), {
        key: keyText(s.key),
        value: structuredClone(s.value),
        version,
        connectionString: s.connectionString ?? null,
      });
    for (const k of change.remove ?? []) this.rows.delete(keyText(k));
    this.trail.unshift({
      id: version,
      version,
      at: new Date().toISOString(),
      instanceId: origin.instanceId,
      actor: origin.actor,
      action: change.action,
      target: change.target,
      detail: structuredClone(change.detail),
    });
    // Bounded: an in-memory trail is for the last changes only.
    this.trail.length = Math.min(this.trail.length, MEMORY_AUDIT_ROWS);
    return version;
  }

  async audit(limit: number): Promise<AuditEntry[]> {
    return this.trail.slice(0, limit);
  }

  async heartbeat(beat: Heartbeat): Promise<void> {
    this.beat = { ...beat, atMs: Date.now() };
  }

  async leave(): Promise<void> {
    this.beat = null;
  }

  async prune(): Promise<void> {}

  async instances(): Promise<{ version: number; rows: HeartbeatRow[] }> {
    const b = this.beat;
    if (b === null) return { version: this.current, rows: [] };
    const rows = [
      {
        instanceId: b.instanceId,
        serviceVersion: b.serviceVersion,
        startedAt: b.startedAt.toISOString(),
        heartbeatAt: new Date(b.atMs).toISOString(),
        ageMs: Date.now() - b.atMs,
        view: b.view,
      },
    ];
    return { version: this.current, rows };
  }

  async subscribe(): Promise<() => void> {
    return () => {};
  }

  async close(): Promise<void> {}
}

/** Audit rows FLEET_CONTROL=local keeps in memory. */
export const MEMORY_AUDIT_ROWS = 500;

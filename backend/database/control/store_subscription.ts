import type { ControlStore } from "./control_store";

/**
 * The control store's LISTEN, kept up: {@link ensure} subscribes unless a
 * subscription is live or being made; a lost connection is reported and
 * the next {@link ensure} (the periodic version check) subscribes again.
 */
export class StoreSubscription {
  private unsubscribe: (() => void) | null = null;
  private subscribing = false;
  private stopped = false;

  constructor(
    private readonly store: ControlStore,
    private readonly on: {
      /** A NOTIFY announced this stored version. */
      readonly version: (version: number) => void;
      /** Subscribing failed, or the LISTEN connection was lost. */
      readonly trouble: (err: unknown, message: string) => void;
    },
  ) {}

  /** A LISTEN connection is live. */
  get listening(): boolean {
    return this.unsubscribe !== null;
  }

  async ensure(): Promise<void> {
    if (this.unsubscribe !== null || this.subscribing || this.stopped) return;
    this.subscribing = true;
    try {
      const stop = await this.store.subscribe(this.on.version, (err) => {
        this.unsubscribe = null;
        this.on.trouble(err, "control LISTEN connection lost");
      });
      if (this.stopped) stop();
      else this.unsubscribe = stop;
    } catch (err) {
      this.on.trouble(err, "control LISTEN failed");
    } finally {
      this.subscribing = false;
    }
  }

  /** Stops listening for good. */
  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
  }
}

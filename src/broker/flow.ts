/**
 * Publisher flow control on one event loop: our stand-in for RabbitMQ's credit_flow.
 *
 * RabbitMQ blocks a publisher's reader while the queue process downstream is behind. Here all
 * work shares one thread, so "behind" means: a queue whose consumers are taking messages holds
 * a backlog while publishes keep arriving — the loop spends its time taking messages in rather
 * than handing them out, and the consumers' acks wait their turn. A connection that published
 * in such a turn stops reading until the queue is down to FLOW_RESUME ready messages, or for
 * FLOW_MAX_PAUSE_MS at most. A queue whose consumers made no progress since it last asked
 * (a stuck or absent consumer) does not ask again: a backlog for slow consumers builds at full
 * speed, as on RabbitMQ, and only a loop busy with both sides is shared.
 */

/** Ready messages a consuming queue may hold before it asks publishers to wait. */
export const FLOW_BACKLOG = 1000;
/** Publishers read again once the queue that asked is down to this many. */
export const FLOW_RESUME = 500;
/** Longest a publisher waits for a queue that asked. */
const FLOW_MAX_PAUSE_MS = 1;

/** A publishing connection that can stop and resume reading. */
export interface FlowWaiter {
  onFlowResume(): void;
}

export class Flow {
  /** Set during this turn by a queue that asked; cleared after the turn's publishers saw it. */
  behind = false;
  /** How often a publisher stopped reading for flow (statistics, tests). */
  pauses = 0;
  readonly #waiters = new Set<FlowWaiter>();
  #timer: NodeJS.Timeout | undefined;
  readonly #clearBound = (): void => {
    this.behind = false;
  };
  readonly #releaseBound = (): void => this.release();

  /** A consuming queue has more than FLOW_BACKLOG ready messages after an enqueue. */
  markBehind(): void {
    if (this.behind) return;
    this.behind = true;
    // runs after the publishing connections' own end-of-turn callbacks (scheduled when their
    // data arrived, before this enqueue), so they all see it
    setImmediate(this.#clearBound);
  }

  /** A publisher stops reading until release(). */
  wait(w: FlowWaiter): void {
    this.pauses++;
    this.#waiters.add(w);
    if (this.#timer === undefined) {
      this.#timer = setTimeout(this.#releaseBound, FLOW_MAX_PAUSE_MS);
      this.#timer.unref(); // a stopping broker does not wait for it
    }
  }

  /** A publisher that closed while waiting. */
  forget(w: FlowWaiter): void {
    this.#waiters.delete(w);
  }

  /** The queue that asked caught up (or the pause ran out): every waiting publisher reads again. */
  release(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#waiters.size === 0) return;
    const ws = [...this.#waiters];
    this.#waiters.clear();
    for (const w of ws) w.onFlowResume();
  }
}

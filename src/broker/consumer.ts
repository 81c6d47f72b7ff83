/**
 * What a queue needs from a consumer. The session's channel implements it; the queue never
 * sees a socket. Ordering invariant: a queue calls deliver() only after canAccept() returned
 * true in the same synchronous pass.
 */
import type { Queue, QueueEntry } from './queue.js';

export interface Consumer {
  readonly tag: string;
  readonly noAck: boolean;
  readonly exclusive: boolean;
  /** x-priority argument of basic.consume (0 by default). */
  readonly priority: number;
  /** Identity of the connection holding this consumer (exclusive-queue checks). */
  readonly owner: object;
  /** Prefetch credit left and the connection can take more output. */
  canAccept(): boolean;
  /** Hands over one message. For no-ack consumers the entry is already settled. */
  deliver(queue: Queue, entry: QueueEntry): void;
  /** The queue went away (deleted): tell the client with basic.cancel if it asked for that. */
  cancelledByQueue(queue: Queue): void;
}

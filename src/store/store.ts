/**
 * What the broker core asks of durable storage. Records are opaque to the store: it knows
 * message ids, queue names and bytes, no AMQP objects.
 *
 * Contract:
 *  - append() returns the message id at once; the record is durable only after the batch it
 *    joined has been written and fsynced: listeners registered with whenSynced() for that
 *    batch are then called with the batch number, in batch order.
 *  - ack()/delivered()/dropQueue() are recorded in the same batches but nobody waits on them.
 *  - recover() replays every segment once at start, before any append.
 */
export interface RecoveredMessage {
  id: number;
  exchange: string;
  routingKey: string;
  propsRaw: Buffer;
  /** null when the body was left on disk (large backlog); read it with readBody(id). */
  body: Buffer | null;
  bodySize: number;
  /** Durable queues still holding the message, and whether it was delivered there. */
  queues: { name: string; delivered: boolean }[];
}

export interface RecoveryStats {
  messages: number;
  segments: number;
  bytes: number;
  truncatedBytes: number;
  /** Recovered messages whose body was left on disk (beyond the in-memory budget). */
  bodiesOnDisk: number;
  ms: number;
}

export interface SyncListener {
  /** Everything appended up to and including `batch` is on disk. */
  onStoreSynced(batch: number): void;
}

export interface MessageStore {
  /** The batch the next append joins. */
  readonly batch: number;
  append(exchange: string, routingKey: string, propsRaw: Buffer, body: Buffer, queues: readonly string[]): number;
  /** The message was delivered from `queue` (recovery marks it redelivered). */
  delivered(id: number, queue: string): void;
  /** The message left `queue` for good (ack, drop, expiry, purge). */
  ack(id: number, queue: string): void;
  /** A durable queue was deleted: every message it held is gone from it. */
  dropQueue(queue: string, ids: Iterable<number>): void;
  whenSynced(listener: SyncListener): void;
  /** Body of a message whose body is not kept in memory. */
  readBody(id: number): Buffer;
  recover(onMessage: (m: RecoveredMessage) => void): RecoveryStats;
  /** Writes and fsyncs everything pending. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Files and bytes on disk (for tests and the management API). */
  stats(): { segments: number; bytes: number; messages: number };
}

/**
 * Opening a data directory: lock it, load the saved definitions, open one message store per
 * vhost, and put every recovered message back on its queues, in order, logging progress.
 * Part of the composition root (imports broker and store).
 */
import { existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Broker } from './broker/broker.js';
import { exportDefinitions, importDefinitions, type Definitions } from './broker/definitions.js';
import { Message } from './broker/message.js';
import type { BrokerConfig } from './config.js';
import { DefinitionsFile } from './store/definitions-file.js';
import { DataDirLock } from './store/lock.js';
import { SegmentStore } from './store/segments.js';
import type { Logger } from './util/logger.js';

export interface Durability {
  broker: Broker;
  close(): Promise<void>;
}

export function openDurability(config: BrokerConfig, log: Logger): Durability {
  const dir = config.dataDir!;
  const lock = new DataDirLock(dir);
  lock.acquire();
  const t0 = Date.now();
  const file = new DefinitionsFile(dir);
  let saved: unknown;
  try {
    saved = file.load();
  } catch (err) {
    lock.release();
    throw err;
  }
  const stores: SegmentStore[] = [];
  const broker = new Broker({
    createDefaults: saved === null,
    storeFactory: (vhost) => {
      const s = new SegmentStore(join(dir, 'msgs', encodeURIComponent(vhost)), {
        log,
        segmentSize: config.segmentSize,
        recoverBodiesInMemory: config.recoverBodiesBytes,
      });
      stores.push(s);
      return s;
    },
    defaultUser: config.defaultUser,
    defaultPass: config.defaultPass,
    defaultVhost: config.defaultVhost,
    maxMessageSize: config.maxMessageSize,
    pageOutBytes: config.pageOutBytes,
  });
  if (saved !== null) importDefinitions(broker, saved as Definitions);

  // After a crash the "delivered" records of the last unsynced batch may be missing, so a
  // delivered message could come back flagged as new. The spec's flag means "may have been
  // delivered": after an unclean stop every recovered message carries it.
  const cleanMarker = join(dir, 'clean-shutdown');
  const clean = existsSync(cleanMarker);
  if (clean) unlinkSync(cleanMarker);
  else if (saved !== null) log.warn({ dataDir: dir }, 'the previous run did not stop cleanly: recovered messages are flagged redelivered');

  let total = 0;
  for (const vhost of broker.vhosts.values()) {
    const store = vhost.store!;
    const perQueue = new Map<string, number>();
    const dropped = new Map<string, number>();
    const stats = store.recover((m) => {
      const msg =
        m.body === null
          ? Message.paged(m.exchange, m.routingKey, m.propsRaw, m.bodySize, m.id, store)
          : new Message(m.exchange, m.routingKey, m.propsRaw, m.body);
      msg.storeId = m.id;
      for (const q of m.queues) {
        const queue = vhost.queues.get(q.name);
        if (queue === undefined) {
          store.ack(m.id, q.name); // its queue is gone from the definitions
          dropped.set(q.name, (dropped.get(q.name) ?? 0) + 1);
          continue;
        }
        queue.recover(msg, q.delivered || !clean);
        perQueue.set(q.name, (perQueue.get(q.name) ?? 0) + 1);
      }
      if (++total % 100_000 === 0) log.info({ vhost: vhost.name, messages: total }, 'recovering messages…');
    });
    for (const [queue, n] of perQueue) log.info({ vhost: vhost.name, queue, messages: n }, 'queue recovered');
    for (const [queue, n] of dropped) {
      log.warn({ vhost: vhost.name, queue, messages: n }, 'messages of a queue missing from definitions.json dropped');
    }
    if (stats.segments > 0) {
      log.info({ vhost: vhost.name, ...stats }, 'message store recovered');
    }
  }
  const save = (): void => file.save(exportDefinitions(broker, { durableOnly: true, version: config.serverVersion }));
  broker.onDefinitionsChanged = save;
  save();
  log.info({ dataDir: dir, messages: total, ms: Date.now() - t0 }, 'data directory opened');

  return {
    broker,
    async close() {
      broker.onDefinitionsChanged = undefined;
      save();
      await Promise.all(stores.map((s) => s.close()));
      writeFileSync(cleanMarker, `${new Date().toISOString()}\n`);
      lock.release();
    },
  };
}

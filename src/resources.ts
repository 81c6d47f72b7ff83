/**
 * Resource monitor for RabbitMQ's two alarms (part of the composition root):
 *  - memory: set when the process RSS exceeds the high watermark (default 40% of RAM, as
 *    RabbitMQ's vm_memory_high_watermark 0.4). Cleared when the memory in use is back under
 *    80% of it, judged from live memory (V8 heap + Buffers) plus what RSS holds beyond it
 *    (code, stacks, allocator slack): RSS alone may never shrink once the allocator holds
 *    pages, and live memory alone is far below RSS, so clearing on it would clear the alarm at
 *    the next check with nothing freed and let a flood in again (block/unblock flapping).
 *    That overhead is the largest RSS − live seen while the alarm is set, capped at half the
 *    limit so that an allocator that keeps every page cannot hold the alarm for ever.
 *    Live memory counts garbage until V8 collects it, and an idle broker (publishers blocked,
 *    consumers done) allocates nothing that would make V8 collect: while the alarm holds, a
 *    full collection runs at most once a second when the estimate is still too high
 *    (rabbitmq-compat: RabbitMQ garbage-collects its processes under memory pressure too).
 *  - disk: set when the data directory's filesystem has less free space than the limit
 *    (RabbitMQ's disk_free_limit, 50 MB).
 */
import { statfsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Alarms } from './broker/alarms.js';
import type { BrokerConfig } from './config.js';
import type { Logger } from './util/logger.js';

export interface ResourceMonitor {
  readonly memoryLimit: number;
  check(): void;
  stop(): void;
}

export function memoryLimitOf(config: BrokerConfig): number {
  const w = config.memoryHighWatermark;
  return w <= 1 ? Math.floor(totalmem() * w) : Math.floor(w);
}

/** Most often a full collection runs while the memory alarm holds. */
const GC_EVERY_MS = 1000;

/**
 * V8's gc(): the global one under --expose-gc, else one from a fresh context after turning
 * the flag on (Node's documented way to reach it at run time); undefined if neither works.
 */
function fullGc(): (() => void) | undefined {
  const global = (globalThis as { gc?: unknown }).gc;
  if (typeof global === 'function') return global as () => void;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

export function startResourceMonitor(config: BrokerConfig, alarms: Alarms, log: Logger): ResourceMonitor {
  const memoryLimit = memoryLimitOf(config);
  let memoryAlarm = false;
  /** RSS beyond live memory while the alarm is set (see the header). */
  let overhead = 0;
  let lastGc = 0;
  /** null: no way to collect on demand */
  let gc: (() => void) | null | undefined;
  let diskAlarm = false;
  const check = (): void => {
    const m = process.memoryUsage();
    let live = m.heapUsed + m.external;
    if (!memoryAlarm && m.rss > memoryLimit) {
      memoryAlarm = true;
      overhead = Math.min(Math.max(0, m.rss - live), memoryLimit / 2);
      log.warn({ rss: m.rss, live, limit: memoryLimit }, 'memory resource limit alarm set: publishers are blocked until memory is freed');
      alarms.set('memory', true);
    } else if (memoryAlarm) {
      overhead = Math.min(Math.max(overhead, m.rss - live), memoryLimit / 2);
      const now = Date.now();
      if (live + overhead >= memoryLimit * 0.8 && now - lastGc >= GC_EVERY_MS) {
        lastGc = now;
        gc ??= fullGc() ?? null;
        if (gc !== null) {
          gc();
          const after = process.memoryUsage();
          live = after.heapUsed + after.external;
        }
      }
      if (live + overhead < memoryLimit * 0.8) {
        memoryAlarm = false;
        log.info({ rss: m.rss, live, overhead, limit: memoryLimit }, 'memory resource limit alarm cleared');
        alarms.set('memory', false);
      }
    }
    if (config.dataDir !== null && config.diskFreeLimit > 0) {
      let free: number;
      try {
        const s = statfsSync(config.dataDir);
        free = s.bavail * s.bsize;
      } catch {
        return;
      }
      const low = free < config.diskFreeLimit;
      if (low !== diskAlarm) {
        diskAlarm = low;
        if (low) log.warn({ free, limit: config.diskFreeLimit }, 'disk resource limit alarm set: publishers are blocked until disk space is freed');
        else log.info({ free, limit: config.diskFreeLimit }, 'disk resource limit alarm cleared');
        alarms.set('disk', low);
      }
    }
  };
  const timer = setInterval(check, config.resourceCheckMs);
  timer.unref();
  return { memoryLimit, check, stop: () => clearInterval(timer) };
}

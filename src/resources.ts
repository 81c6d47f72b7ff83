/**
 * Resource monitor for RabbitMQ's two alarms (part of the composition root):
 *  - memory: set when the process RSS exceeds the high watermark (default 40% of RAM, as
 *    RabbitMQ's vm_memory_high_watermark 0.4); cleared when live memory (V8 heap + Buffers)
 *    is back under 80% of it — RSS alone may never shrink once the allocator holds pages;
 *  - disk: set when the data directory's filesystem has less free space than the limit
 *    (RabbitMQ's disk_free_limit, 50 MB).
 */
import { statfsSync } from 'node:fs';
import { totalmem } from 'node:os';
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

export function startResourceMonitor(config: BrokerConfig, alarms: Alarms, log: Logger): ResourceMonitor {
  const memoryLimit = memoryLimitOf(config);
  let memoryAlarm = false;
  let diskAlarm = false;
  const check = (): void => {
    const m = process.memoryUsage();
    if (!memoryAlarm && m.rss > memoryLimit) {
      memoryAlarm = true;
      log.warn({ rss: m.rss, limit: memoryLimit }, 'memory resource limit alarm set: publishers are blocked until memory is freed');
      alarms.set('memory', true);
    } else if (memoryAlarm && m.heapUsed + m.external < memoryLimit * 0.8 && m.rss < memoryLimit * 1.5) {
      memoryAlarm = false;
      log.info({ rss: m.rss, live: m.heapUsed + m.external, limit: memoryLimit }, 'memory resource limit alarm cleared');
      alarms.set('memory', false);
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

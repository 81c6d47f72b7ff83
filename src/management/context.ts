/**
 * Everything a management handler may reach: the broker, the configuration, statistics and
 * the management-only metadata. Built once by startManagement.
 */
import type { Broker } from '../broker/broker.js';
import type { BrokerConfig } from '../config.js';
import type { Logger } from '../util/logger.js';
import type { ManagementMeta } from './meta.js';
import type { Stats } from './stats.js';

export interface Listeners {
  /** The address the listeners are bound to ('::' = all). */
  host: string;
  amqpPort: number;
  managementPort: number;
  prometheusPort: number;
}

export interface ManagementContext {
  readonly broker: Broker;
  readonly config: BrokerConfig;
  readonly log: Logger;
  readonly stats: Stats;
  readonly meta: ManagementMeta;
  /** Node name shown in every object ("node": "warren@host"). */
  readonly node: string;
  readonly startedAt: number;
  readonly listeners: Listeners;
  /**
   * Stands in for a connection where the broker wants an owner (queue.declare, purge): the
   * API acts like RabbitMQ's internal direct connection, which owns no exclusive queue.
   */
  readonly owner: object;
}

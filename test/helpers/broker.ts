/**
 * Wire tests run against warren started in-process on port 0, or — with WARREN_TEST_URL set
 * (e.g. amqp://guest:guest@localhost:5680) — against another broker, to prove a test encodes
 * RabbitMQ's behaviour rather than a quirk of ours. Tests that look inside warren use
 * `internal.it` / `describe.skipIf(external)`.
 */
import { afterAll, beforeAll, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/index.js';
import type { BrokerConfig } from '../../src/config.js';

export const externalUrl = process.env['WARREN_TEST_URL'];
export const external = externalUrl !== undefined && externalUrl !== '';

export interface TestBroker {
  url: string;
  host: string;
  port: number;
  /** The in-process broker, undefined when running against an external one. */
  warren: RunningBroker | undefined;
  /** URL with another user/password/vhost. */
  urlWith(opts: { user?: string; pass?: string; vhost?: string; query?: string }): string;
}

/** Starts (or points at) a broker for the enclosing describe block. */
export function useBroker(options: Partial<BrokerConfig> = {}): TestBroker {
  const tb: TestBroker = {
    url: '',
    host: '',
    port: 0,
    warren: undefined,
    urlWith(o) {
      const u = new URL(this.url);
      if (o.user !== undefined) u.username = encodeURIComponent(o.user);
      if (o.pass !== undefined) u.password = encodeURIComponent(o.pass);
      if (o.vhost !== undefined) u.pathname = '/' + encodeURIComponent(o.vhost);
      if (o.query !== undefined) u.search = o.query;
      return u.toString();
    },
  };
  beforeAll(async () => {
    if (external) {
      tb.url = externalUrl!;
    } else {
      tb.warren = await startBroker({ silentCloseDelayMs: 200, ...options });
      tb.url = tb.warren.url;
    }
    const u = new URL(tb.url);
    tb.host = u.hostname.replace(/^\[|\]$/g, '');
    tb.port = Number(u.port || 5672);
  });
  afterAll(async () => {
    await tb.warren?.close();
  });
  return tb;
}

/** A test that inspects warren's internals: skipped against an external broker. */
export const internalIt = it.skipIf(external);

/** Which broker a failure came from, for messages. */
export function brokerName(): string {
  return external ? `external broker ${externalUrl}` : 'warren (in-process)';
}

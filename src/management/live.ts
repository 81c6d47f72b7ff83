/**
 * Live updates for the dashboard over a WebSocket at /ws. Browsers cannot put an
 * Authorization header on a WebSocket, so the first message must be
 *   {"type":"auth","authorization":"Basic …"}
 * (checked like any API request); then the server sends {"type":"hello", history} and every
 * second {"type":"tick", …}: totals, one-second rates and the lists the dashboard shows.
 *
 * The one-second timer runs only while a dashboard is connected. Rates here are over the last
 * second, for the charts; the API's rates use the 5 s statistics samples.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer, WebSocket } from 'ws';
import type { Queue } from '../broker/queue.js';
import type { User } from '../broker/users.js';
import { authenticate, isMonitor } from './auth.js';
import type { ManagementContext } from './context.js';
import { HttpError } from './http-error.js';
import { channelName, localEndpoint } from './json/connection.js';
import { vhostBindings } from './json/exchange.js';

const TICK_MS = 1000;
const HISTORY = 300; // five minutes of one-second points
const LIST_LIMIT = 1000;
const AUTH_TIMEOUT_MS = 10_000;

interface Point {
  t: number;
  publish: number;
  deliver: number;
  ack: number;
  ready: number;
  unacked: number;
}

export class LiveUpdates {
  readonly #ctx: ManagementContext;
  /** Created on the first upgrade: loading ws costs ~10 MB of RSS that an idle broker need not pay. */
  #wss: WebSocketServer | undefined;
  #wssLoading: Promise<WebSocketServer> | undefined;
  readonly #clients = new Map<WebSocket, User>();
  readonly #history: Point[] = [];
  #timer: NodeJS.Timeout | undefined;
  #last: { t: number; publish: number; deliver: number; ack: number } | undefined;
  readonly #lastQueue = new WeakMap<Queue, { t: number; publish: number; deliver: number; ack: number }>();

  constructor(ctx: ManagementContext) {
    this.#ctx = ctx;
  }

  /** http.Server 'upgrade' handler: /ws only. */
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const wss = this.#wss;
    if (wss !== undefined) {
      wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, req));
      return;
    }
    // the upgraded socket has no reader yet, so what the client sends meanwhile waits in it
    this.#wssLoading ??= import('ws').then(({ WebSocketServer }) => (this.#wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 })));
    this.#wssLoading.then(
      (w) => {
        if (socket.destroyed) return;
        w.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, req));
      },
      (err: unknown) => {
        this.#ctx.log.error({ err }, 'could not load the WebSocket module');
        socket.destroy();
      },
    );
  }

  #accept(ws: WebSocket, req: IncomingMessage): void {
    const timeout = setTimeout(() => ws.close(4401, 'authentication required'), AUTH_TIMEOUT_MS);
    ws.once('message', (data) => {
      clearTimeout(timeout);
      let user: User;
      try {
        const msg = JSON.parse(String(data)) as { type?: string; authorization?: string };
        if (msg.type !== 'auth') throw new HttpError(401, 'not_authorized', 'Login failed');
        user = authenticate(this.#ctx.broker.users, msg.authorization, req.socket.remoteAddress, this.#ctx.config.loopbackUsers);
      } catch (err) {
        const reason = err instanceof HttpError ? err.reason || 'Login failed' : 'bad message';
        ws.send(JSON.stringify({ type: 'error', status: 401, reason }));
        ws.close(4401, reason);
        return;
      }
      this.#clients.set(ws, user);
      ws.on('close', () => {
        this.#clients.delete(ws);
        if (this.#clients.size === 0) this.#stopTimer();
      });
      ws.send(JSON.stringify({ type: 'hello', user: { name: user.name, tags: user.tags }, history: this.#history }));
      if (this.#timer === undefined) {
        this.#tick();
        this.#timer = setInterval(() => this.#tick(), TICK_MS);
      } else {
        ws.send(JSON.stringify(this.#snapshot(user, Date.now())));
      }
    });
    ws.on('error', () => ws.terminate());
  }

  #stopTimer(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const now = Date.now();
    const c = this.#ctx.stats.counters();
    const d = this.#ctx.stats.depth();
    const last = this.#last;
    const dt = last === undefined ? 0 : (now - last.t) / 1000;
    const rate = (x: number, y: number | undefined): number => (dt > 0 && dt < 5 && y !== undefined ? Math.max(0, Math.round(((x - y) / dt) * 10) / 10) : 0);
    const point: Point = {
      t: now,
      publish: rate(c.publish, last?.publish),
      deliver: rate(c.deliverGet, last?.deliver),
      ack: rate(c.ack, last?.ack),
      ready: d.ready,
      unacked: d.unacked,
    };
    this.#last = { t: now, publish: c.publish, deliver: c.deliverGet, ack: c.ack };
    this.#history.push(point);
    if (this.#history.length > HISTORY) this.#history.shift();
    const cache = new Map<string, string>();
    for (const [ws, user] of this.#clients) {
      const key = isMonitor(user) ? '*' : user.name;
      let text = cache.get(key);
      if (text === undefined) cache.set(key, (text = JSON.stringify({ ...this.#snapshot(user, now), point })));
      ws.send(text);
    }
  }

  #snapshot(user: User, now: number): Record<string, unknown> {
    const ctx = this.#ctx;
    const monitor = isMonitor(user);
    const visible = (v: string): boolean => monitor || ctx.broker.users.permission(v, user.name) !== undefined;
    const queues: Record<string, unknown>[] = [];
    const exchanges: Record<string, unknown>[] = [];
    const bindings: Record<string, unknown>[] = [];
    for (const [vname, v] of ctx.broker.vhosts) {
      if (!visible(vname)) continue;
      for (const q of v.queues.values()) {
        if (queues.length >= LIST_LIMIT) break;
        const prev = this.#lastQueue.get(q);
        const dt = prev === undefined ? 0 : (now - prev.t) / 1000;
        const r = (x: number, y: number | undefined): number => (dt > 0 && dt < 5 && y !== undefined ? Math.round(((x - y) / dt) * 10) / 10 : 0);
        queues.push({
          vhost: vname,
          name: q.name,
          type: q.queueType,
          durable: q.durable,
          auto_delete: q.autoDelete,
          exclusive: q.exclusive,
          messages: q.messageCount + q.unackedCount,
          messages_ready: q.messageCount,
          messages_unacknowledged: q.unackedCount,
          consumers: q.consumerCount,
          policy: (q.policy ?? ctx.broker.policies.match(vname, 'queue', q.name, q.queueType))?.name ?? null,
          publish_rate: r(q.publishCount, prev?.publish),
          deliver_rate: r(q.deliverCount, prev?.deliver),
          ack_rate: r(q.ackCount, prev?.ack),
        });
        this.#lastQueue.set(q, { t: now, publish: q.publishCount, deliver: q.deliverCount, ack: q.ackCount });
      }
      for (const x of v.exchanges.values()) {
        if (exchanges.length >= LIST_LIMIT) break;
        exchanges.push({ vhost: vname, name: x.name, type: x.type, durable: x.durable, auto_delete: x.autoDelete, internal: x.internal, publish_in: x.publishIn, publish_out: x.publishOut });
      }
      for (const b of vhostBindings(v)) {
        if (bindings.length >= LIST_LIMIT) break;
        bindings.push(b as unknown as Record<string, unknown>);
      }
    }
    const connections: Record<string, unknown>[] = [];
    const channels: Record<string, unknown>[] = [];
    const consumers: Record<string, unknown>[] = [];
    for (const c of ctx.broker.registry.connections) {
      if (!monitor && c.user !== user.name) continue;
      const local = localEndpoint(c);
      const client = c.clientProperties;
      connections.push({
        name: c.name,
        user: c.user,
        vhost: c.vhost,
        peer_host: c.peerHost,
        peer_port: c.peerPort,
        port: local.port,
        channels: c.channelCount,
        state: c.stateName,
        client: [client['product'], client['version']].filter((x) => typeof x === 'string').join(' '),
        user_provided_name: typeof client['connection_name'] === 'string' ? client['connection_name'] : null,
        recv_oct: c.bytesReceived,
        send_oct: c.bytesSent,
        connected_at: c.connectedAt,
      });
      for (const ch of c.channelInfos()) {
        const cons = ch.consumerInfos();
        channels.push({
          name: channelName(c, ch),
          connection: c.name,
          number: ch.id,
          user: c.user,
          vhost: c.vhost,
          prefetch_count: ch.prefetchCount,
          global_prefetch_count: ch.globalPrefetch,
          messages_unacknowledged: ch.unackedCount,
          consumer_count: cons.length,
          confirm: ch.confirmMode,
          transactional: ch.txMode,
          state: ch.closing ? 'closing' : 'running',
        });
        for (const k of cons) {
          consumers.push({
            consumer_tag: k.tag,
            queue: k.queue.name,
            vhost: k.queue.vhost.name,
            channel: channelName(c, ch),
            ack_required: !k.noAck,
            prefetch_count: k.prefetch,
            exclusive: k.exclusive,
            unacked: k.unacked,
          });
        }
      }
    }
    const depth = ctx.stats.depth();
    return {
      type: 'tick',
      t: now,
      node: ctx.node,
      version: ctx.config.serverVersion,
      uptime: now - ctx.startedAt,
      vhosts: [...ctx.broker.vhosts.keys()].filter(visible),
      totals: {
        connections: connections.length,
        channels: channels.length,
        consumers: consumers.length,
        queues: queues.length,
        exchanges: exchanges.length,
        messages: depth.messages,
        messages_ready: depth.ready,
        messages_unacknowledged: depth.unacked,
      },
      queues,
      exchanges,
      bindings,
      connections,
      channels,
      consumers,
    };
  }

  close(): void {
    this.#stopTimer();
    for (const ws of this.#clients.keys()) ws.terminate();
    this.#clients.clear();
    if (this.#wss !== undefined) {
      for (const ws of this.#wss.clients) ws.terminate();
      this.#wss.close();
    }
  }
}

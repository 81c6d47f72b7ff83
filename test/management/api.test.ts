/**
 * The management HTTP API against RabbitMQ 3.10.8's recorded answers
 * (../shared/reference/management-api.md and management-samples/*.json): the probe's requests
 * replayed with the same status codes, response bodies with the same field names and JSON
 * types, error bodies byte for byte, a definitions round trip (and an import of RabbitMQ's own
 * export), pagination, forced close of a connection, publish/get, purge and policies.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import amqplib from 'amqplib';
import type { ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpClient, startManaged, type HttpResponse, type Managed } from '../helpers/management.js';
import { eventually, withTimeout } from '../helpers/wait.js';

const SAMPLES = resolve(import.meta.dirname, '../../../shared/reference/management-samples');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const sample = (name: string): any => JSON.parse(readFileSync(resolve(SAMPLES, `${name}.json`), 'utf8'));

let m: Managed;
let http: ReturnType<typeof httpClient>;
let conn: ChannelModel;

/** Type of a JSON value as the comparison sees it. */
function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * Same top-level keys as RabbitMQ's sample (minus `optional` ones, which either side may
 * lack) and the same JSON type for each common key.
 */
function expectShape(actual: Record<string, unknown>, recorded: Record<string, unknown>, what: string, optional: string[] = []): void {
  const a = Object.keys(actual).filter((k) => !optional.includes(k)).sort();
  const r = Object.keys(recorded).filter((k) => !optional.includes(k)).sort();
  expect(a, `${what}: field names`).toEqual(r);
  for (const k of a) {
    if (recorded[k] === null || actual[k] === null) continue; // null stands for "not known yet" in either
    expect(jsonType(actual[k]), `${what}.${k}: JSON type`).toBe(jsonType(recorded[k]));
  }
}

beforeAll(async () => {
  m = await startManaged();
  http = httpClient(m.base);
  // the probe's AMQP topology in "/" (management-api.md, "Topology for the samples")
  conn = await amqplib.connect(m.warren.url, { clientProperties: { connection_name: 'ref-probe-mgmt' } });
  const ch = await conn.createChannel();
  await ch.assertExchange('ref-m-x', 'topic', { durable: false });
  await ch.assertQueue('ref-m-q', {
    durable: false,
    arguments: { 'x-message-ttl': 3600000, 'x-max-length': 10000, 'x-dead-letter-exchange': 'amq.fanout' },
  });
  await ch.bindQueue('ref-m-q', 'ref-m-x', 'ref.#');
  ch.sendToQueue('ref-m-q', Buffer.from('first message'));
  ch.publish('ref-m-x', 'ref.a', Buffer.from('second message'), { deliveryMode: 1 });
  ch.sendToQueue('ref-m-q', Buffer.from([0xff, 0x00, 0x01]));
  ch.sendToQueue('ref-m-q', Buffer.from('fourth message'));
  const ch2 = await conn.createChannel();
  await ch2.prefetch(1);
  const got = new Promise<void>((r) => void ch2.consume('ref-m-q', () => r(), { consumerTag: 'ref-m-ctag', arguments: { 'x-priority': 5 } }));
  await withTimeout(got, 5000, 'the consumer to get one message');
  await eventually(async () => (await http('GET', '/api/queues/%2F/ref-m-q')).json?.messages_unacknowledged === 1, 5000, 'one unacked');
});

afterAll(async () => {
  await conn?.close().catch(() => {});
  await m?.warren.close();
});

describe('the probe requests replayed', () => {
  // management-api.md requests 1–18, with the status codes RabbitMQ answered
  const requests: [string, string, unknown, number][] = [
    ['PUT', '/api/vhosts/ref-vhost', { description: 'probe vhost', tags: 'probe' }, 201],
    ['PUT', '/api/vhosts/ref-vhost', { description: 'probe vhost', tags: 'probe' }, 204],
    ['PUT', '/api/users/ref-user', { password: 'ref-pass', tags: 'management' }, 201],
    ['PUT', '/api/permissions/ref-vhost/ref-user', { configure: '.*', write: '.*', read: '.*' }, 201],
    ['PUT', '/api/permissions/ref-vhost/guest', { configure: '.*', write: '.*', read: '.*' }, 204],
    ['PUT', '/api/topic-permissions/ref-vhost/ref-user', { exchange: 'amq.topic', write: '^ref\\.', read: '.*' }, 201],
    ['PUT', '/api/policies/ref-vhost/ref-policy', { pattern: '^ref-pol\\.', definition: { 'max-length': 100, overflow: 'reject-publish' }, priority: 1, 'apply-to': 'queues' }, 201],
    ['PUT', '/api/vhost-limits/ref-vhost/max-queues', { value: 50 }, 204],
    ['PUT', '/api/exchanges/ref-vhost/ref-x-fanout', { type: 'fanout', durable: true, auto_delete: false, internal: false, arguments: {} }, 201],
    ['PUT', '/api/exchanges/ref-vhost/ref-x-topic', { type: 'topic', durable: true, arguments: { 'alternate-exchange': 'ref-x-fanout' } }, 201],
    ['PUT', '/api/exchanges/ref-vhost/ref-x-direct', { type: 'direct', durable: true }, 201],
    ['PUT', '/api/queues/ref-vhost/ref-q-main', { durable: true, auto_delete: false, arguments: { 'x-message-ttl': 60000, 'x-max-length': 1000, 'x-dead-letter-exchange': 'ref-x-fanout' } }, 201],
    ['PUT', '/api/queues/ref-vhost/ref-q-main', { durable: true, auto_delete: false, arguments: { 'x-message-ttl': 60000, 'x-max-length': 1000, 'x-dead-letter-exchange': 'ref-x-fanout' } }, 204],
    ['PUT', '/api/queues/ref-vhost/ref-pol.q1', { durable: true }, 201],
    ['PUT', '/api/queues/ref-vhost/ref-q-quorum', { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 5 } }, 201],
    ['POST', '/api/bindings/ref-vhost/e/ref-x-direct/q/ref-q-main', { routing_key: 'k1', arguments: {} }, 201],
    ['POST', '/api/bindings/ref-vhost/e/ref-x-topic/e/ref-x-direct', { routing_key: 'a.#', arguments: { 'x-ref': 'e2e' } }, 201],
    ['POST', '/api/bindings/ref-vhost/e/ref-x-fanout/q/ref-pol.q1', { routing_key: '', arguments: {} }, 201],
  ];
  it('answers each with RabbitMQ status code', async () => {
    for (const [method, path, body, status] of requests) {
      const r = await http(method, path, { body });
      expect(r.status, `${method} ${path}: ${r.text}`).toBe(status);
    }
  });

  it('gives binding POSTs a relative location like RabbitMQ', async () => {
    const r1 = await http('POST', '/api/bindings/ref-vhost/e/ref-x-direct/q/ref-q-main', { body: { routing_key: 'k1', arguments: {} } });
    expect(r1.headers.get('location')).toBe('ref-q-main/k1');
    const r2 = await http('POST', '/api/bindings/ref-vhost/e/ref-x-fanout/q/ref-pol.q1', { body: { routing_key: '', arguments: {} } });
    expect(r2.headers.get('location')).toBe('ref-pol.q1/~');
    const r3 = await http('POST', '/api/bindings/ref-vhost/e/ref-x-topic/e/ref-x-direct', { body: { routing_key: 'a.#', arguments: { 'x-ref': 'e2e' } } });
    expect(r3.headers.get('location')).toMatch(/^ref-x-direct\/a\.%2523~[A-Za-z0-9_-]{6}$/);
  });
});

describe('response shapes match RabbitMQ 3.10.8', () => {
  it('overview and whoami', async () => {
    const o = await http('GET', '/api/overview');
    expect(o.status).toBe(200);
    expect(o.headers.get('content-type')).toBe('application/json');
    expect(o.headers.get('cache-control')).toBe('no-cache');
    expectShape(o.json, sample('overview'), 'overview');
    expectShape(o.json.message_stats, sample('overview').message_stats, 'overview.message_stats', ['confirm', 'confirm_details']);
    expectShape(o.json.object_totals, sample('overview').object_totals, 'overview.object_totals');
    expect(o.json.object_totals.connections).toBe(1);
    expect(o.json.object_totals.consumers).toBe(1);
    expect(o.json.queue_totals.messages_unacknowledged).toBe(1);
    const w = await http('GET', '/api/whoami');
    expect(w.json).toEqual(sample('whoami'));
  });

  it('vhosts, users, permissions, topic permissions, policies', async () => {
    const vhosts = (await http('GET', '/api/vhosts')).json;
    expectShape(vhosts.find((v: { name: string }) => v.name === '/'), sample('vhosts')[0], 'vhosts[/]');
    const one = (await http('GET', '/api/vhosts/ref-vhost')).json;
    expectShape(one, sample('vhost'), 'vhost', ['recv_oct', 'recv_oct_details', 'send_oct', 'send_oct_details']);
    expect(one).toMatchObject({ name: 'ref-vhost', description: 'probe vhost', tags: ['probe'], metadata: { description: 'probe vhost', tags: ['probe'] } });
    const users = (await http('GET', '/api/users')).json;
    expectShape(users[0], sample('users')[0], 'users[0]');
    expect(users.find((u: { name: string }) => u.name === 'ref-user')).toMatchObject({ tags: ['management'], hashing_algorithm: 'rabbit_password_hashing_sha256' });
    const perms = (await http('GET', '/api/permissions')).json;
    expect(perms).toEqual(expect.arrayContaining(sample('permissions')));
    expect((await http('GET', '/api/topic-permissions')).json).toEqual(sample('topic-permissions'));
    expect((await http('GET', '/api/policies')).json).toEqual(sample('policies'));
  });

  it('exchanges', async () => {
    const list = (await http('GET', '/api/exchanges')).json;
    const names = list.filter((x: { vhost: string }) => x.vhost === '/').map((x: { name: string }) => x.name);
    expect(names).toEqual(['', 'amq.direct', 'amq.fanout', 'amq.headers', 'amq.match', 'amq.rabbitmq.trace', 'amq.topic', 'ref-m-x']);
    for (const x of list) expectShape(x, sample('exchanges')[0], `exchange ${x.name}`, ['message_stats']);
    expectShape((await http('GET', '/api/exchanges/%2F/amq.direct')).json, sample('exchange-amq.direct'), 'exchange amq.direct', ['message_stats']);
    const traffic = (await http('GET', '/api/exchanges/%2F/ref-m-x')).json;
    expectShape(traffic, sample('exchange-with-traffic'), 'exchange ref-m-x');
    expect(traffic.message_stats).toMatchObject({ publish_in: 1, publish_out: 1 });
    expect((await http('GET', '/api/exchanges/%2F/amq.default')).json.name).toBe('');
  });

  it('queues: one with messages, a consumer and arguments; a quorum queue; the list', async () => {
    const q = (await http('GET', '/api/queues/%2F/ref-m-q')).json;
    expectShape(q, sample('queue'), 'queue', ['idle_since']);
    expectShape(q.backing_queue_status, sample('queue').backing_queue_status, 'queue.backing_queue_status');
    expectShape(q.message_stats, sample('queue').message_stats, 'queue.message_stats');
    expectShape(q.consumer_details[0], sample('queue').consumer_details[0], 'queue.consumer_details[0]');
    expect(q.consumer_details[0]).toMatchObject({ consumer_tag: 'ref-m-ctag', prefetch_count: 1, ack_required: true, arguments: { 'x-priority': 5 } });
    expect(q.consumer_details[0].channel_details.number).toBe(2);
    expect(q).toMatchObject({
      arguments: sample('queue').arguments,
      messages: 4,
      messages_ready: 3,
      messages_unacknowledged: 1,
      consumers: 1,
      durable: false,
      type: 'classic',
      state: 'running',
      message_stats: { publish: 4, deliver_get: 1 },
    });
    expect(q.message_bytes_unacknowledged).toBe('first message'.length);
    const quorum = (await http('GET', '/api/queues/ref-vhost/ref-q-quorum')).json;
    expectShape(quorum, sample('queue-quorum'), 'quorum queue');
    const list = (await http('GET', '/api/queues')).json;
    expectShape(list.find((x: { name: string }) => x.name === 'ref-m-q'), sample('queues')[0], 'queues[ref-m-q]', ['idle_since']);
    expect(list.map((x: { vhost: string; name: string }) => `${x.vhost}|${x.name}`)).toEqual(['/|ref-m-q', 'ref-vhost|ref-pol.q1', 'ref-vhost|ref-q-main', 'ref-vhost|ref-q-quorum']);
  });

  it('bindings, everywhere and of one queue', async () => {
    const all = (await http('GET', '/api/bindings')).json;
    const recorded = sample('bindings');
    const withoutHash = (b: { properties_key: string }) => ({ ...b, properties_key: b.properties_key.replace(/~.*$/, '~') });
    expect(all.map(withoutHash)).toEqual(recorded.map(withoutHash));
    expect((await http('GET', '/api/queues/%2F/ref-m-q/bindings')).json).toEqual(sample('queue-bindings'));
    const source = (await http('GET', '/api/exchanges/ref-vhost/ref-x-topic/bindings/source')).json;
    expect(source.map((b: { destination: string }) => b.destination)).toEqual(['ref-x-direct']);
    const dest = (await http('GET', '/api/exchanges/ref-vhost/ref-x-direct/bindings/destination')).json;
    expect(dest.map((b: { source: string }) => b.source)).toEqual(['ref-x-topic']);
  });

  it('connections, channels, consumers', async () => {
    const conns = (await http('GET', '/api/connections')).json;
    expect(conns).toHaveLength(1);
    expectShape(conns[0], sample('connections')[0], 'connections[0]');
    expect(conns[0]).toMatchObject({ user_provided_name: 'ref-probe-mgmt', user: 'guest', vhost: '/', channels: 2, protocol: 'AMQP 0-9-1', state: 'running' });
    const name = encodeURIComponent(conns[0].name);
    expectShape((await http('GET', `/api/connections/${name}`)).json, sample('connection'), 'connection');
    const channels = (await http('GET', '/api/channels')).json;
    expect(channels).toHaveLength(2);
    for (const c of channels) expectShape(c, sample('channels')[0], `channel ${c.number}`, ['idle_since']);
    expect(channels[1]).toMatchObject({ number: 2, prefetch_count: 1, consumer_count: 1, messages_unacknowledged: 1 });
    const one = (await http('GET', `/api/channels/${encodeURIComponent(`${conns[0].name} (2)`)}`)).json;
    expectShape(one, sample('channel'), 'channel', ['idle_since']);
    const consumers = (await http('GET', '/api/consumers')).json;
    expect(consumers).toHaveLength(1);
    expectShape(consumers[0], sample('consumers')[0], 'consumers[0]');
    expectShape(consumers[0].channel_details, sample('consumers')[0].channel_details, 'consumers[0].channel_details');
    expect(consumers[0]).toMatchObject({ consumer_tag: 'ref-m-ctag', queue: { name: 'ref-m-q', vhost: '/' }, prefetch_count: 1 });
  });

  it('definitions, whole broker and one vhost', async () => {
    const d = (await http('GET', '/api/definitions')).json;
    expectShape(d, sample('definitions'), 'definitions');
    for (const key of ['users', 'permissions', 'topic_permissions', 'parameters', 'global_parameters', 'policies', 'queues', 'exchanges', 'bindings']) {
      expectShape(d[key][0], sample('definitions')[key][0], `definitions.${key}[0]`);
    }
    expect(d.parameters).toEqual(sample('definitions').parameters);
    const v = (await http('GET', '/api/definitions/ref-vhost')).json;
    expectShape(v, sample('definitions-vhost'), 'definitions/ref-vhost');
    const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : 1);
    expect(v.queues.sort(byName)).toEqual(sample('definitions-vhost').queues.sort(byName));
    expect(v.exchanges.sort(byName)).toEqual(sample('definitions-vhost').exchanges.sort(byName));
    expect(v.bindings).toEqual(sample('definitions-vhost').bindings);
    expect(v.policies).toEqual(sample('definitions-vhost').policies);
  });
});

describe('errors are RabbitMQ answers', () => {
  const expectError = (r: HttpResponse, status: number, file: string): void => {
    expect(r.status, r.text).toBe(status);
    const recorded = sample(file);
    if ('non_json_body' in recorded) expect(r.text).toBe(recorded.non_json_body);
    else expect(r.json).toEqual(recorded);
  };

  it('404 for a missing queue, exchange, vhost, path; 404 deleting a missing queue', async () => {
    expectError(await http('GET', '/api/queues/%2F/ref-m-missing'), 404, 'error-404-missing-queue');
    expectError(await http('GET', '/api/exchanges/%2F/ref-m-missing'), 404, 'error-404-missing-exchange');
    expectError(await http('GET', '/api/queues/ref-no-such-vhost'), 404, 'error-404-missing-vhost');
    expectError(await http('GET', '/api/no-such-endpoint'), 404, 'error-404-unknown-path');
    expectError(await http('DELETE', '/api/queues/%2F/ref-m-missing'), 404, 'error-404-delete-missing-queue');
  });

  it('401 without credentials, with bad ones, and for a non-administrator', async () => {
    const none = await http('GET', '/api/overview', { auth: null });
    expectError(none, 401, 'error-401-no-auth');
    expect(none.headers.get('www-authenticate')).toBe('Basic realm="RabbitMQ Management"');
    expectError(await http('GET', '/api/overview', { auth: 'guest:wrong' }), 401, 'error-401-bad-credentials');
    expect((await http('PUT', '/api/users/ref-limited', { body: { password: 'p', tags: 'management' } })).status).toBe(201);
    expectError(await http('PUT', '/api/users/ref-x', { body: { password: 'x', tags: '' }, auth: 'ref-limited:p' }), 401, 'error-401-not-administrator');
    expect((await http('GET', '/api/overview', { auth: 'ref-limited:p' })).status).toBe(200);
  });

  it('400 for bad JSON, inequivalent redeclare, bad arguments, a 256-byte name', async () => {
    expectError(await http('PUT', '/api/queues/%2F/ref-m-bad', { raw: '{"durable": tru' }), 400, 'error-400-bad-json');
    const inequivalent = { durable: true, arguments: { 'x-message-ttl': 3600000, 'x-max-length': 10000, 'x-dead-letter-exchange': 'amq.fanout' } };
    expectError(await http('PUT', '/api/queues/%2F/ref-m-q', { body: inequivalent }), 400, 'error-400-inequivalent');
    expectError(await http('PUT', '/api/queues/%2F/ref-m-prio', { body: { durable: false, arguments: { 'x-max-priority': 300 } } }), 400, 'error-400-bad-x-arg');
    expectError(await http('PUT', `/api/queues/%2F/ref-m-${'n'.repeat(250)}`, { body: { durable: false } }), 400, 'error-400-queue-256-bytes');
  });

  it('publish errors, a bad ackmode, a wrong method', async () => {
    expectError(await http('POST', '/api/exchanges/%2F/amq.default/publish', { body: { properties: {}, payload: 'x', payload_encoding: 'string' } }), 400, 'error-400-publish-no-routing-key');
    expectError(
      await http('POST', '/api/exchanges/%2F/ref-m-missing/publish', { body: { properties: {}, routing_key: 'k', payload: 'x', payload_encoding: 'string' } }),
      400,
      'error-400-publish-missing-exchange',
    );
    expectError(await http('POST', '/api/queues/%2F/ref-m-q/get', { body: { count: 1, ackmode: 'bogus', encoding: 'auto' } }), 500, 'error-500-bad-ackmode');
    const wrong = await http('DELETE', '/api/overview');
    expectError(wrong, 405, 'error-405-method-not-allowed');
    expect(wrong.headers.get('allow')).toBe('HEAD, GET, OPTIONS');
  });
});

describe('publish and get through the API', () => {
  it('publishes via amq.default and reports routed true or false', async () => {
    const body = { properties: { delivery_mode: 2, headers: { 'x-from': 'http' } }, routing_key: 'ref-m-q', payload: 'hello from http', payload_encoding: 'string' };
    expect((await http('POST', '/api/exchanges/%2F/amq.default/publish', { body })).json).toEqual(sample('publish'));
    const nowhere = { properties: {}, routing_key: 'ref-m-nowhere', payload: 'x', payload_encoding: 'string' };
    expect((await http('POST', '/api/exchanges/%2F/amq.default/publish', { body: nowhere })).json).toEqual(sample('publish-unroutable'));
  });

  it('gets with ack_requeue_true (messages stay, come back redelivered), base64, empty queues', async () => {
    const got = (await http('POST', '/api/queues/%2F/ref-m-q/get', { body: { count: 3, ackmode: 'ack_requeue_true', encoding: 'auto', truncate: 50000 } })).json;
    expect(got).toHaveLength(3);
    // amqplib always sends a headers table, so only the first message has RabbitMQ's exact properties
    for (let i = 0; i < 3; i++) expectShape(got[i], sample('queue-get')[i], `queue-get[${i}]`, i === 0 ? [] : ['properties']);
    expect(got.map((x: { message_count: number }) => x.message_count)).toEqual([3, 2, 1]);
    expect(got[0]).toMatchObject({ payload: 'second message', payload_encoding: 'string', exchange: 'ref-m-x', routing_key: 'ref.a', properties: { delivery_mode: 1 } });
    expect(got[1]).toMatchObject({ payload: '/wAB', payload_encoding: 'base64', payload_bytes: 3 });
    const again = (await http('POST', '/api/queues/%2F/ref-m-q/get', { body: { count: 1, ackmode: 'ack_requeue_true', encoding: 'base64' } })).json;
    expectShape(again[0], sample('queue-get-base64')[0], 'queue-get-base64[0]');
    expect(again[0]).toMatchObject({ redelivered: true, payload: Buffer.from('second message').toString('base64'), payload_encoding: 'base64' });
    expect((await http('GET', '/api/queues/%2F/ref-m-q')).json.messages_ready).toBe(4);
    expect((await http('POST', '/api/queues/ref-vhost/ref-pol.q1/get', { body: { count: 1, ackmode: 'ack_requeue_true', encoding: 'auto' } })).json).toEqual(sample('queue-get-empty'));
  });

  it('truncates payloads and removes messages with ack_requeue_false', async () => {
    expect((await http('PUT', '/api/queues/%2F/api-get', { body: { durable: false } })).status).toBe(201);
    for (const p of ['abcdefghij', 'second']) {
      await http('POST', '/api/exchanges/%2F/amq.default/publish', { body: { properties: {}, routing_key: 'api-get', payload: p, payload_encoding: 'string' } });
    }
    const t = (await http('POST', '/api/queues/%2F/api-get/get', { body: { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto', truncate: 4 } })).json;
    expect(t[0]).toMatchObject({ payload: 'abcd', payload_bytes: 10, message_count: 1 });
    const r = (await http('POST', '/api/queues/%2F/api-get/get', { body: { count: 5, ackmode: 'reject_requeue_false', encoding: 'auto' } })).json;
    expect(r.map((x: { payload: string }) => x.payload)).toEqual(['second']);
    expect((await http('GET', '/api/queues/%2F/api-get')).json.messages).toBe(0);
  });

  it('purges with DELETE …/contents', async () => {
    await http('POST', '/api/exchanges/%2F/amq.default/publish', { body: { properties: {}, routing_key: 'api-get', payload: 'p', payload_encoding: 'string' } });
    expect((await http('GET', '/api/queues/%2F/api-get')).json.messages_ready).toBe(1);
    expect((await http('DELETE', '/api/queues/%2F/api-get/contents')).status).toBe(204);
    expect((await http('GET', '/api/queues/%2F/api-get')).json.messages_ready).toBe(0);
    expect((await http('DELETE', '/api/queues/%2F/api-get')).status).toBe(204);
    expect((await http('GET', '/api/queues/%2F/api-get')).status).toBe(404);
  });
});

describe('policies', () => {
  it('shows the policy that applies to a queue', async () => {
    const q = (await http('GET', '/api/queues/ref-vhost/ref-pol.q1')).json;
    expect(q.policy).toBe('ref-policy');
    expect(q.effective_policy_definition).toEqual({ 'max-length': 100, overflow: 'reject-publish' });
    expect((await http('GET', '/api/queues/ref-vhost/ref-q-main')).json.policy).toBeNull();
    expect((await http('PUT', '/api/policies/%2F/api-ttl', { body: { pattern: '^ref-m-', definition: { 'message-ttl': 5000 }, 'apply-to': 'queues' } })).status).toBe(201);
    expect((await http('GET', '/api/policies/%2F/api-ttl')).json).toEqual({ vhost: '/', name: 'api-ttl', pattern: '^ref-m-', 'apply-to': 'queues', definition: { 'message-ttl': 5000 }, priority: 0 });
    expect((await http('GET', '/api/queues/%2F/ref-m-q')).json).toMatchObject({ policy: 'api-ttl', effective_policy_definition: { 'message-ttl': 5000 } });
    expect((await http('PUT', '/api/policies/%2F/api-bad', { body: { pattern: '(', definition: { 'message-ttl': 1 } } })).status).toBe(400);
    expect((await http('DELETE', '/api/policies/%2F/api-ttl')).status).toBe(204);
    expect((await http('GET', '/api/queues/%2F/ref-m-q')).json.policy).toBeNull();
  });
});

describe('pagination, sorting, columns', () => {
  beforeAll(async () => {
    for (const n of [3, 1, 5, 2, 4]) await http('PUT', `/api/queues/%2F/page-${n}`, { body: { durable: false } });
  });

  it('answers the paged envelope', async () => {
    const r = (await http('GET', '/api/queues?page=2&page_size=2&name=page-&use_regex=false&pagination=true')).json;
    expectShape(r, sample('queues-paged'), 'queues-paged');
    expect(r).toMatchObject({ filtered_count: 5, item_count: 2, page: 2, page_count: 3, page_size: 2 });
    expect(r.total_count).toBeGreaterThanOrEqual(9);
    expect(r.items.map((q: { name: string }) => q.name)).toEqual(['page-3', 'page-4']);
    const regex = (await http('GET', '/api/queues?page=1&name=%5EPAGE-%5B12%5D%24&use_regex=true')).json;
    expect(regex.items.map((q: { name: string }) => q.name)).toEqual(['page-1', 'page-2']);
  });

  it('sorts, reverses and trims columns', async () => {
    const r = (await http('GET', '/api/queues/%2F?sort=name&sort_reverse=true&columns=name,messages')).json;
    expect(r.slice(0, 2)).toEqual([{ messages: expect.any(Number), name: 'ref-m-q' }, { messages: 0, name: 'page-5' }]);
    const one = (await http('GET', '/api/queues/%2F/page-1?columns=name,message_stats.publish,vhost')).json;
    expect(one).toEqual({ name: 'page-1', vhost: '/' });
  });

  it('refuses bad page parameters as RabbitMQ does', async () => {
    const big = await http('GET', '/api/queues?page=1&page_size=501');
    expect(big.status).toBe(400);
    expect(big.json).toEqual({ error: 'invalid_pagination_parameters', reason: 'Invalid pagination parameters: page number 1, page size 501' });
    const far = await http('GET', '/api/queues?page=50&page_size=2&name=page-');
    expect(far.status).toBe(400);
    expect(far.json.error).toBe('page_out_of_range');
  });
});

describe('connections closed from the API', () => {
  it('DELETE /api/connections/{name} closes the client with 320 and the X-Reason text', async () => {
    const c = await amqplib.connect(m.warren.url, { clientProperties: { connection_name: 'to-be-closed' } });
    // amqplib reports a 320 as the 'close' event's error (not as 'error': it is not the client's fault)
    c.on('error', () => {});
    const closed = new Promise<Error>((res) => c.on('close', (e: Error) => res(e)));
    const name = await eventually(async () => {
      const list = (await http('GET', '/api/connections')).json as { name: string; user_provided_name?: string }[];
      return list.find((x) => x.user_provided_name === 'to-be-closed')?.name;
    });
    const r = await http('DELETE', `/api/connections/${encodeURIComponent(name!)}`, { headers: { 'X-Reason': 'maintenance window' } });
    expect(r.status).toBe(204);
    const err = (await withTimeout(closed, 5000, 'the forced close')) as Error & { code?: number };
    expect(err.message).toContain('320 (CONNECTION-FORCED)');
    expect(err.message).toContain('CONNECTION_FORCED - maintenance window');
    await eventually(async () => (await http('GET', `/api/connections/${encodeURIComponent(name!)}`)).status === 404);
  });
});

describe('definitions round trip', () => {
  const normalize = (d: Record<string, unknown[]>) => {
    const sorted = (k: string) => [...((d[k] ?? []) as Record<string, unknown>[])].map((x) => JSON.stringify(x)).sort();
    return Object.fromEntries(['users', 'vhosts', 'permissions', 'topic_permissions', 'parameters', 'policies', 'queues', 'exchanges', 'bindings'].map((k) => [k, sorted(k)]));
  };

  it('export → delete everything → import gives the same topology', async () => {
    const before = (await http('GET', '/api/definitions')).json;
    expect(before.queues.length).toBeGreaterThan(3);
    // delete the probe's vhost (queues, exchanges, bindings, permissions, policies go with it),
    // its users and the "/" objects the export holds
    expect((await http('DELETE', '/api/vhosts/ref-vhost')).status).toBe(204);
    for (const u of ['ref-user', 'ref-limited']) expect((await http('DELETE', `/api/users/${u}`)).status).toBe(204);
    for (const q of before.queues.filter((x: { vhost: string }) => x.vhost === '/')) await http('DELETE', `/api/queues/%2F/${encodeURIComponent(q.name)}`);
    await http('DELETE', '/api/exchanges/%2F/ref-m-x');
    const emptied = (await http('GET', '/api/definitions')).json;
    expect(emptied.queues).toEqual([]);
    expect(emptied.vhosts).toEqual([{ name: '/' }]);

    const imported = await http('POST', '/api/definitions', { body: before });
    expect(imported.status, imported.text).toBe(204);
    const after = (await http('GET', '/api/definitions')).json;
    expect(normalize(after)).toEqual(normalize(before));
    // the imported password hash still logs in
    expect((await http('GET', '/api/whoami', { auth: 'ref-user:ref-pass' })).json).toEqual({ name: 'ref-user', tags: ['management'] });
    // and the policy is applied again
    expect((await http('GET', '/api/queues/ref-vhost/ref-pol.q1')).json.policy).toBe('ref-policy');
  });

  it("imports RabbitMQ's own export (password hashes included)", async () => {
    const fresh = await startManaged();
    try {
      const h = httpClient(fresh.base);
      const r = await h('POST', '/api/definitions', { body: sample('definitions') });
      expect(r.status, r.text).toBe(204);
      // ref-user was created on RabbitMQ with password "ref-pass" (management-api.md request 3)
      expect((await h('GET', '/api/whoami', { auth: 'ref-user:ref-pass' })).status).toBe(200);
      const d = (await h('GET', '/api/definitions')).json;
      const recorded = sample('definitions');
      expect(d.users.find((u: { name: string }) => u.name === 'ref-user')).toEqual(recorded.users[1]);
      const pick = (x: Record<string, unknown[]>, k: string) => (x[k] as Record<string, unknown>[]).map((o) => JSON.stringify(o)).sort();
      for (const k of ['queues', 'exchanges', 'bindings', 'policies', 'topic_permissions', 'parameters']) expect(pick(d, k), k).toEqual(pick(recorded, k));
      expect((await h('GET', '/api/queues/ref-vhost/ref-q-quorum')).json.type).toBe('quorum');
    } finally {
      await fresh.warren.close();
    }
  });

  it('imports one vhost with POST /api/definitions/{vhost}', async () => {
    await http('PUT', '/api/vhosts/import-target', { body: {} });
    const r = await http('POST', '/api/definitions/import-target', { body: sample('definitions-vhost') });
    expect(r.status, r.text).toBe(204);
    const v = (await http('GET', '/api/definitions/import-target')).json;
    expect(v.bindings).toEqual(sample('definitions-vhost').bindings);
    expect(v.queues).toHaveLength(3);
  });
});

describe('statistics', () => {
  it('counts publishes and deliveries per queue and samples rates', async () => {
    await http('PUT', '/api/queues/%2F/stats-q', { body: {} });
    for (let i = 0; i < 3; i++) {
      await http('POST', '/api/exchanges/%2F/amq.default/publish', { body: { properties: {}, routing_key: 'stats-q', payload: 'x', payload_encoding: 'string' } });
    }
    await http('POST', '/api/queues/%2F/stats-q/get', { body: { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' } });
    const q = (await http('GET', '/api/queues/%2F/stats-q')).json;
    expect(q.message_stats).toMatchObject({ publish: 3, deliver_get: 1 });
    expect(q.messages).toBe(2);
    for (const k of ['publish', 'deliver_get', 'ack', 'redeliver']) {
      expect(typeof q.message_stats[k], k).toBe('number');
      expect(typeof q.message_stats[`${k}_details`].rate, `${k}_details.rate`).toBe('number');
    }
    expect(typeof q.messages_details.rate).toBe('number');
  });
});

describe('limits, health checks, aliveness', () => {
  it('keeps user limits on the user (and in the export)', async () => {
    await http('PUT', '/api/users/limited', { body: { password: 'x', tags: '' } });
    expect((await http('PUT', '/api/user-limits/limited/max-connections', { body: { value: 10 } })).status).toBe(204);
    expect((await http('PUT', '/api/user-limits/limited/max-bananas', { body: { value: 1 } })).status).toBe(400);
    expect((await http('GET', '/api/users/limited')).json.limits).toEqual({ 'max-connections': 10 });
    expect((await http('GET', '/api/user-limits/limited')).json).toEqual([{ user: 'limited', value: { 'max-connections': 10 } }]);
    const d = (await http('GET', '/api/definitions')).json;
    expect(d.users.find((u: { name: string }) => u.name === 'limited').limits).toEqual({ 'max-connections': 10 });
    expect((await http('DELETE', '/api/user-limits/limited/max-connections')).status).toBe(204);
    expect((await http('GET', '/api/users/limited')).json.limits).toEqual({});
  });

  it('reports resource alarms in the health checks', async () => {
    expect((await http('GET', '/api/health/checks/alarms')).json).toEqual({ status: 'ok' });
    m.warren.broker.alarms.set('memory', true);
    try {
      const r = await http('GET', '/api/health/checks/local-alarms');
      expect(r.status).toBe(503);
      expect(r.json).toMatchObject({ status: 'failed', alarms: [{ resource: 'memory' }] });
    } finally {
      m.warren.broker.alarms.set('memory', false);
    }
    expect((await http('GET', '/api/health/checks/alarms')).status).toBe(200);
  });

  it('shows a publisher stopped by a resource alarm as state "blocked", and "running" again once it clears', async () => {
    const c = await amqplib.connect(m.warren.url, { clientProperties: { connection_name: 'alarm-publisher' } });
    try {
      const ch = await c.createChannel();
      ch.sendToQueue('amq.rabbitmq.no-such-queue', Buffer.from('x')); // a publish makes it a publisher
      await ch.checkExchange('amq.direct'); // round trip: the publish has been read
      const state = async (): Promise<string | undefined> => {
        const list = (await http('GET', '/api/connections')).json as { user_provided_name?: string; state: string }[];
        return list.find((x) => x.user_provided_name === 'alarm-publisher')?.state;
      };
      expect(await state()).toBe('running');
      m.warren.broker.alarms.set('memory', true);
      try {
        expect(await state()).toBe('blocked');
      } finally {
        m.warren.broker.alarms.set('memory', false);
      }
      expect(await state()).toBe('running');
    } finally {
      await c.close();
    }
  });

  it('passes the aliveness test of a vhost and 404s a missing one', async () => {
    expect((await http('GET', '/api/aliveness-test/%2F')).json).toEqual({ status: 'ok' });
    expect((await http('GET', '/api/aliveness-test/nope')).status).toBe(404);
  });
});

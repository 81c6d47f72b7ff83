#!/usr/bin/env python3
"""The drop-in checklist (../README.md) with pika's SelectConnection (callbacks on an ioloop).

Usage: python3 pika_select.py <amqp-url> [<amqp-url-of-vhost-test>]

Every connection shares one IOLoop. A check is a generator that yields operations — functions
`op(ok, err)` that start a pika call whose callback calls ok(value) — and `run` drives it on the
ioloop until the generator returns; so the checks read top to bottom while pika sees nothing
but callbacks. An unexpected channel or connection close fails the step in progress.
"""
import os

import pika
import pika.exceptions
from pika.adapters.select_connection import IOLoop
from pika.spec import Basic

from checklist import (CONFIRM_COUNT, HEARTBEAT_S, IDLE_S, MIB, NO_VHOST, OTHER_ARGS, PREFETCH, TOPIC_KEYS,
                       TOPIC_MATCHED, TOPIC_UNMATCHED, CheckFailed, Skip, expect, expect_x_death, names,
                       parse_args, run_checklist, work_args)

URL, VHOST_URL = parse_args()
n = names("pika-select")
IOLOOP = IOLoop()
state = {"fail": None, "closing": set()}


def run(gen_fn):
    """Drives the generator gen_fn() on IOLOOP; returns its value or raises its exception."""
    gen = gen_fn()
    result = {}

    def finish(exc=None, value=None):
        result.update(exc=exc, value=value)
        IOLOOP.stop()

    def step(value=None, exc=None):
        try:
            op = gen.throw(exc) if exc is not None else gen.send(value)
        except StopIteration as stop:
            return finish(value=stop.value)
        except BaseException as e:  # noqa: B036 - the check's failure, re-raised by run
            return finish(exc=e)
        settled = [False]

        def ok(v=None):
            if not settled[0]:
                settled[0] = True
                IOLOOP.call_later(0, lambda: step(v))

        def err(e):
            if not settled[0]:
                settled[0] = True
                IOLOOP.call_later(0, lambda: step(exc=e))

        state["fail"] = err
        op(ok, err)

    IOLOOP.call_later(0, step)
    IOLOOP.start()
    if result.get("exc") is not None:
        raise result["exc"]
    return result.get("value")


def check(gen_fn):
    return lambda: run(gen_fn)


# --- operations ---------------------------------------------------------------------------------

def unexpected(what):
    return lambda *args: state["fail"] and state["fail"](CheckFailed(f"{what} closed: {args[-1]!r}"))


def connect(url, heartbeat=None):
    def op(ok, err):
        params = pika.URLParameters(url)
        params.connection_attempts = 1
        params.socket_timeout = 5
        params.stack_timeout = 10
        params.client_properties = {"connection_name": n.prefix}
        if heartbeat is not None:
            params.heartbeat = heartbeat

        def on_close(conn, reason):
            if conn not in state["closing"] and not isinstance(reason, pika.exceptions.ConnectionClosedByClient):
                unexpected("connection")(reason)

        pika.SelectConnection(params, on_open_callback=ok,
                              on_open_error_callback=lambda _c, e: err(CheckFailed(f"connect: {e!r}")),
                              on_close_callback=on_close, custom_ioloop=IOLOOP)
    return op


def close_connection(conn):
    def op(ok, _err):
        state["closing"].add(conn)
        conn.add_on_close_callback(lambda _c, reason: ok(reason))
        conn.close()
    return op


def channel(conn):
    def op(ok, _err):
        def on_open(ch):
            def on_close(c, reason):
                # closing the connection closes its channels "by client" too
                if c not in state["closing"] and not isinstance(reason, pika.exceptions.ChannelClosedByClient):
                    unexpected("channel")(reason)
            ch.add_on_close_callback(on_close)
            ok(ch)
        conn.channel(on_open_callback=on_open)
    return op


def close_channel(ch):
    def op(ok, _err):
        state["closing"].add(ch)
        ch.add_on_close_callback(lambda _c, reason: ok(reason))
        ch.close()
    return op


def call(f):
    """An operation from a pika method with a `callback`: f(cb) starts it, cb's args become the value."""
    return lambda ok, _err: f(lambda *a: ok(a[0] if len(a) == 1 else a))


def sleep(s):
    return lambda ok, _err: IOLOOP.call_later(s, ok)


def until(cond, what, timeout=5.0):
    """Polls cond() every 10 ms on the ioloop."""
    def op(ok, err):
        waited = [0.0]

        def poll():
            if cond():
                return ok()
            if waited[0] > timeout:
                return err(CheckFailed(f"timed out after {timeout} s waiting for {what}"))
            waited[0] += 0.01
            IOLOOP.call_later(0.01, poll)
        poll()
    return op


def get(ch, queue, auto_ack=True):
    """basic.get: (method, props, body), or None on get-empty."""
    def op(ok, _err):
        ch.add_callback(lambda _frame: ok(None), [Basic.GetEmpty], one_shot=True)
        ch.basic_get(queue, lambda _c, method, props, body: ok((method, props, body)), auto_ack=auto_ack)
    return op


def passive_count(ch, queue):
    return call(lambda cb: ch.queue_declare(queue, passive=True, callback=lambda f: cb(f.method.message_count)))


def get_all(ch, queue, count):
    got = []
    for _ in range(500):
        m = yield get(ch, queue)
        if m is not None:
            got.append(m)
            if len(got) == count:
                break
        else:
            yield sleep(0.01)
    expect(len(got) == count, f"{len(got)} messages in {queue}, expected {count}")
    expect((yield get(ch, queue)) is None, f"more than {count} messages in {queue}")
    return got


# --- the checks ---------------------------------------------------------------------------------

def check_connect():
    conn = state["conn"] = yield connect(URL)
    ch = yield channel(conn)
    yield close_channel(ch)
    p = conn.server_properties
    return f"server {p['product']} {p['version']}"


def check_connect_vhost():
    if not VHOST_URL:
        raise Skip(NO_VHOST)
    conn = yield connect(VHOST_URL)
    ch = yield channel(conn)
    frame = yield call(lambda cb: ch.queue_declare("", exclusive=True, callback=cb))
    expect(frame.method.queue.startswith("amq.gen-"), f"server-named queue {frame.method.queue}")
    yield close_connection(conn)


def check_heartbeat():
    conn = yield connect(URL, heartbeat=HEARTBEAT_S)
    hb = conn.params.heartbeat  # the negotiated value, after connection.tune
    expect(hb == HEARTBEAT_S, f"negotiated heartbeat {hb}, asked {HEARTBEAT_S}")
    yield sleep(IDLE_S)
    expect(conn.is_open, "the connection closed while idle")
    ch = yield channel(conn)
    yield call(lambda cb: ch.queue_declare("", exclusive=True, callback=cb))
    yield close_connection(conn)
    return f"{hb} s, idle {IDLE_S:.0f} s"


def check_declare():
    ch = yield channel(state["conn"])
    yield call(lambda cb: ch.exchange_declare(n.ae, "fanout", durable=False, callback=cb))
    yield call(lambda cb: ch.exchange_declare(n.topic, "topic", durable=False,
                                              arguments={"alternate-exchange": n.ae}, callback=cb))
    yield call(lambda cb: ch.exchange_declare(n.dlx, "direct", durable=False, callback=cb))
    frame = yield call(lambda cb: ch.queue_declare(n.work, durable=False, arguments=work_args(n), callback=cb))
    expect(frame.method.queue == n.work and frame.method.message_count == 0, f"declare-ok {frame.method}")
    for q in (n.topic_q, n.ae_q, n.dlq, n.rpc):
        yield call(lambda cb, q=q: ch.queue_declare(q, durable=False, arguments=OTHER_ARGS, callback=cb))
    yield call(lambda cb: ch.queue_declare(n.work, durable=False, arguments=work_args(n), callback=cb))
    yield close_channel(ch)


def check_bind_topic():
    ch = yield channel(state["conn"])
    for queue, exchange, key in ((n.topic_q, n.topic, "*.orange.*"), (n.topic_q, n.topic, "lazy.#"),
                                 (n.ae_q, n.ae, ""), (n.dlq, n.dlx, "dead")):
        yield call(lambda cb, q=queue, x=exchange, k=key: ch.queue_bind(q, x, k, callback=cb))
    for key in TOPIC_KEYS:
        ch.basic_publish(n.topic, key, key.encode())
    matched = [b.decode() for _, _, b in (yield from get_all(ch, n.topic_q, len(TOPIC_MATCHED)))]
    expect(matched == TOPIC_MATCHED, f"topic queue got {matched}")
    other = [b.decode() for _, _, b in (yield from get_all(ch, n.ae_q, len(TOPIC_UNMATCHED)))]
    expect(other == TOPIC_UNMATCHED, f"alternate exchange got {other}")
    yield close_channel(ch)


def check_publish_confirm():
    ch = yield channel(state["conn"])
    outcomes = []
    # a confirm may cover several messages (multiple=true)
    acked = {"ack": 0, "nack": 0, "last": 0}

    def on_confirm(frame):
        kind = "ack" if isinstance(frame.method, Basic.Ack) else "nack"
        tag = frame.method.delivery_tag
        count = tag - acked["last"] if frame.method.multiple else 1
        acked[kind] += count
        acked["last"] = max(acked["last"], tag)
        outcomes.append((kind, tag, frame.method.multiple))

    yield call(lambda cb: ch.confirm_delivery(on_confirm, callback=cb))
    for i in range(CONFIRM_COUNT):
        ch.basic_publish("", n.work, str(i).encode(), pika.BasicProperties(delivery_mode=2))
    yield until(lambda: acked["ack"] + acked["nack"] >= CONFIRM_COUNT, f"{CONFIRM_COUNT} confirms")
    expect(acked["ack"] == CONFIRM_COUNT and acked["nack"] == 0, f"confirms {outcomes}")
    count = yield passive_count(ch, n.work)
    expect(count == CONFIRM_COUNT, f"queue holds {count}")
    yield close_channel(ch)
    return f"{len(outcomes)} basic.ack frames"


def check_consume_ack_prefetch():
    ch = yield channel(state["conn"])
    yield call(lambda cb: ch.basic_qos(prefetch_count=PREFETCH, callback=cb))
    got, held, redelivered = [], [], []
    acking = [False]

    def on_message(ch_, method, _props, body):
        got.append(int(body))
        if method.redelivered:
            redelivered.append(body)
        if acking[0]:
            ch_.basic_ack(method.delivery_tag)
        else:
            held.append(method.delivery_tag)

    tag = yield lambda ok, _err: ch.basic_consume(n.work, on_message, auto_ack=False,
                                                  callback=lambda f: ok(f.method.consumer_tag))
    yield until(lambda: len(got) >= PREFETCH, f"{PREFETCH} deliveries")
    count = yield passive_count(ch, n.work)
    expect(len(got) == PREFETCH, f"{len(got)} deliveries unacked with prefetch {PREFETCH}")
    expect(count == CONFIRM_COUNT - PREFETCH, f"queue reports {count} ready with {PREFETCH} unacked")
    acking[0] = True
    for t in held:
        ch.basic_ack(t)
    yield until(lambda: len(got) >= CONFIRM_COUNT, f"all {CONFIRM_COUNT} deliveries")
    yield call(lambda cb: ch.basic_cancel(tag, callback=cb))
    expect(got == list(range(CONFIRM_COUNT)), f"order {got}")
    expect(not redelivered, f"redelivered {redelivered}")
    left = yield passive_count(ch, n.work)
    expect(left == 0, f"{left} left")
    yield close_channel(ch)


def check_nack_requeue():
    ch = yield channel(state["conn"])
    yield call(lambda cb: ch.basic_qos(prefetch_count=1, callback=cb))
    flags = []

    def on_message(ch_, method, _props, _body):
        flags.append(method.redelivered)
        if len(flags) == 1:
            ch_.basic_nack(method.delivery_tag, requeue=True)
        else:
            ch_.basic_ack(method.delivery_tag)

    tag = yield lambda ok, _err: ch.basic_consume(n.work, on_message, callback=lambda f: ok(f.method.consumer_tag))
    ch.basic_publish("", n.work, b"nack-me")
    yield until(lambda: len(flags) >= 2, "the redelivery")
    yield call(lambda cb: ch.basic_cancel(tag, callback=cb))
    expect(flags == [False, True], f"redelivered flags {flags}")
    yield close_channel(ch)


def check_reject_dlx():
    ch = yield channel(state["conn"])
    ch.basic_publish("", n.work, b"reject-me")
    m = None
    for _ in range(500):
        m = yield get(ch, n.work, auto_ack=False)
        if m is not None:
            break
        yield sleep(0.01)
    expect(m is not None, "the message to reject never came")
    ch.basic_reject(m[0].delivery_tag, requeue=False)
    [(method, props, body)] = yield from get_all(ch, n.dlq, 1)
    expect(body == b"reject-me", f"dead letter body {body!r}")
    expect(method.exchange == n.dlx and method.routing_key == "dead",
           f"dead letter came via {method.exchange}/{method.routing_key}")
    expect_x_death(props.headers, n.work)
    yield close_channel(ch)


def check_mandatory_return():
    ch = yield channel(state["conn"])
    returned = []
    ch.add_on_return_callback(lambda _ch, method, _props, body: returned.append((method, body)))
    ch.basic_publish("", n.nowhere, b"to nowhere", mandatory=True)
    yield until(lambda: returned, "basic.return")
    method, body = returned[0]
    expect(method.reply_code == 312 and method.reply_text == "NO_ROUTE",
           f"returned {method.reply_code} {method.reply_text}")
    expect(method.routing_key == n.nowhere and body == b"to nowhere", f"returned {method} {body!r}")
    yield close_channel(ch)


def check_rpc():
    server_conn = yield connect(URL)
    server = yield channel(server_conn)
    reply_tos = set()

    def on_request(ch_, method, props, body):
        reply_tos.add(props.reply_to)
        ch_.basic_publish("", props.reply_to, b"pong " + body, pika.BasicProperties(correlation_id=props.correlation_id))
        ch_.basic_ack(method.delivery_tag)

    yield lambda ok, _err: server.basic_consume(n.rpc, on_request, callback=ok)
    client = yield channel(state["conn"])
    answers = {}
    yield lambda ok, _err: client.basic_consume(
        "amq.rabbitmq.reply-to", lambda _c, _m, props, body: answers.__setitem__(props.correlation_id, body.decode()),
        auto_ack=True, callback=ok)
    for i in range(3):
        client.basic_publish("", n.rpc, f"ping {i}".encode(),
                             pika.BasicProperties(reply_to="amq.rabbitmq.reply-to", correlation_id=f"c{i}"))
    yield until(lambda: len(answers) >= 3, "3 answers")
    for i in range(3):
        expect(answers.get(f"c{i}") == f"pong ping {i}", f"answer c{i} is {answers.get(f'c{i}')!r}")
    expect(len(reply_tos) == 1 and next(iter(reply_tos)).startswith("amq.rabbitmq.reply-to."),
           f"server saw reply_to {reply_tos}")
    yield close_channel(client)
    yield close_connection(server_conn)
    return "direct reply-to"


def check_large_message():
    ch = yield channel(state["conn"])
    confirmed = []
    yield call(lambda cb: ch.confirm_delivery(confirmed.append, callback=cb))
    body = os.urandom(MIB)
    ch.basic_publish("", n.work, body)
    yield until(lambda: confirmed, "the confirm")
    expect(isinstance(confirmed[0].method, Basic.Ack), f"confirmed with {confirmed[0].method}")
    [(_, _, got)] = yield from get_all(ch, n.work, 1)
    expect(len(got) == MIB, f"got {len(got)} bytes")
    expect(got == body, "the body differs")
    yield close_channel(ch)


def check_close():
    conn = state["conn"]
    ch = yield channel(conn)
    for q in n.queues:
        yield call(lambda cb, q=q: ch.queue_delete(q, callback=cb))
    for x in n.exchanges:
        yield call(lambda cb, x=x: ch.exchange_delete(x, callback=cb))
    yield close_channel(ch)
    reason = yield close_connection(conn)
    expect(getattr(reason, "reply_code", 200) == 200, f"connection closed with {reason!r}")


run_checklist([
    ("connect", check(check_connect)),
    ("connect-vhost", check(check_connect_vhost)),
    ("heartbeat", check(check_heartbeat)),
    ("declare", check(check_declare)),
    ("bind-topic", check(check_bind_topic)),
    ("publish-confirm", check(check_publish_confirm)),
    ("consume-ack-prefetch", check(check_consume_ack_prefetch)),
    ("nack-requeue", check(check_nack_requeue)),
    ("reject-dlx", check(check_reject_dlx)),
    ("mandatory-return", check(check_mandatory_return)),
    ("rpc", check(check_rpc)),
    ("large-message", check(check_large_message)),
    ("close", check(check_close)),
])

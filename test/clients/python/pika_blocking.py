#!/usr/bin/env python3
"""The drop-in checklist (../README.md) with pika's BlockingConnection.

Usage: python3 pika_blocking.py <amqp-url> [<amqp-url-of-vhost-test>]
Consumers are driven by process_data_events with a deadline (wait_until), never by sleeping.
"""
import os

import pika

from checklist import (CONFIRM_COUNT, HEARTBEAT_S, IDLE_S, MIB, NO_VHOST, OTHER_ARGS, PREFETCH, TOPIC_KEYS,
                       TOPIC_MATCHED, TOPIC_UNMATCHED, Skip, expect, expect_x_death, names, parse_args,
                       run_checklist, wait_until, work_args)

URL, VHOST_URL = parse_args()
n = names("pika-blocking")
state = {}


def connect(url, heartbeat=None):
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = 5
    params.stack_timeout = 10
    params.blocked_connection_timeout = 10
    params.client_properties = {"connection_name": n.prefix}
    if heartbeat is not None:
        params.heartbeat = heartbeat
    return pika.BlockingConnection(params)


def pump(conn):
    return lambda: conn.process_data_events(time_limit=0.01)


def get_all(ch, queue, count):
    got = []

    def poll():
        method, props, body = ch.basic_get(queue, auto_ack=True)
        if method is not None:
            got.append((method, props, body))
        return len(got) >= count

    wait_until(poll, f"{count} messages in {queue} (have {len(got)})")
    expect(ch.basic_get(queue, auto_ack=True)[0] is None, f"more than {count} messages in {queue}")
    return got


def check_connect():
    conn = state["conn"] = connect(URL)
    conn.channel().close()
    p = conn._impl.server_properties
    return f"server {p['product'].decode() if isinstance(p['product'], bytes) else p['product']} " \
           f"{p['version'].decode() if isinstance(p['version'], bytes) else p['version']}"


def check_connect_vhost():
    if not VHOST_URL:
        raise Skip(NO_VHOST)
    conn = connect(VHOST_URL)
    q = conn.channel().queue_declare("", exclusive=True).method.queue
    expect(q.startswith("amq.gen-"), f"server-named queue {q}")
    conn.close()


def check_heartbeat():
    conn = connect(URL, heartbeat=HEARTBEAT_S)
    hb = conn._impl.params.heartbeat  # the negotiated value, after connection.tune
    expect(hb == HEARTBEAT_S, f"negotiated heartbeat {hb}, asked {HEARTBEAT_S}")
    conn.sleep(IDLE_S)  # pika sends and checks heartbeats while it sleeps this way
    expect(conn.is_open, "the connection closed while idle")
    conn.channel().queue_declare("", exclusive=True)
    conn.close()
    return f"{hb} s, idle {IDLE_S:.0f} s"


def check_declare():
    ch = state["conn"].channel()
    ch.exchange_declare(n.ae, "fanout", durable=False)
    ch.exchange_declare(n.topic, "topic", durable=False, arguments={"alternate-exchange": n.ae})
    ch.exchange_declare(n.dlx, "direct", durable=False)
    ok = ch.queue_declare(n.work, durable=False, arguments=work_args(n)).method
    expect(ok.queue == n.work and ok.message_count == 0, f"declare-ok {ok}")
    for q in (n.topic_q, n.ae_q, n.dlq, n.rpc):
        ch.queue_declare(q, durable=False, arguments=OTHER_ARGS)
    ch.queue_declare(n.work, durable=False, arguments=work_args(n))
    ch.close()


def check_bind_topic():
    ch = state["conn"].channel()
    ch.queue_bind(n.topic_q, n.topic, "*.orange.*")
    ch.queue_bind(n.topic_q, n.topic, "lazy.#")
    ch.queue_bind(n.ae_q, n.ae, "")
    ch.queue_bind(n.dlq, n.dlx, "dead")
    for key in TOPIC_KEYS:
        ch.basic_publish(n.topic, key, key.encode())
    matched = [b.decode() for _, _, b in get_all(ch, n.topic_q, len(TOPIC_MATCHED))]
    expect(matched == TOPIC_MATCHED, f"topic queue got {matched}")
    other = [b.decode() for _, _, b in get_all(ch, n.ae_q, len(TOPIC_UNMATCHED))]
    expect(other == TOPIC_UNMATCHED, f"alternate exchange got {other}")
    ch.close()


def check_publish_confirm():
    ch = state["conn"].channel()
    ch.confirm_delivery()
    for i in range(CONFIRM_COUNT):
        # in confirm mode basic_publish returns once acked; it raises NackError on a nack
        ch.basic_publish("", n.work, str(i).encode(), pika.BasicProperties(delivery_mode=2))
    count = ch.queue_declare(n.work, passive=True).method.message_count
    expect(count == CONFIRM_COUNT, f"queue holds {count}")
    ch.close()


def check_consume_ack_prefetch():
    conn = state["conn"]
    ch = conn.channel()
    ch.basic_qos(prefetch_count=PREFETCH)
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

    tag = ch.basic_consume(n.work, on_message, auto_ack=False)
    wait_until(lambda: len(got) >= PREFETCH, f"{PREFETCH} deliveries", step=pump(conn))
    count = ch.queue_declare(n.work, passive=True).method.message_count
    expect(len(got) == PREFETCH, f"{len(got)} deliveries unacked with prefetch {PREFETCH}")
    expect(count == CONFIRM_COUNT - PREFETCH, f"queue reports {count} ready with {PREFETCH} unacked")
    acking[0] = True
    for t in held:
        ch.basic_ack(t)
    wait_until(lambda: len(got) >= CONFIRM_COUNT, f"all {CONFIRM_COUNT} deliveries", step=pump(conn))
    ch.basic_cancel(tag)
    expect(got == list(range(CONFIRM_COUNT)), f"order {got}")
    expect(not redelivered, f"redelivered {redelivered}")
    left = ch.queue_declare(n.work, passive=True).method.message_count
    expect(left == 0, f"{left} left")
    ch.close()


def check_nack_requeue():
    conn = state["conn"]
    ch = conn.channel()
    ch.basic_qos(prefetch_count=1)
    flags = []

    def on_message(ch_, method, _props, _body):
        flags.append(method.redelivered)
        if len(flags) == 1:
            ch_.basic_nack(method.delivery_tag, requeue=True)
        else:
            ch_.basic_ack(method.delivery_tag)

    tag = ch.basic_consume(n.work, on_message)
    ch.basic_publish("", n.work, b"nack-me")
    wait_until(lambda: len(flags) >= 2, "the redelivery", step=pump(conn))
    ch.basic_cancel(tag)
    expect(flags == [False, True], f"redelivered flags {flags}")
    ch.close()


def check_reject_dlx():
    ch = state["conn"].channel()
    ch.basic_publish("", n.work, b"reject-me")
    got = []
    wait_until(lambda: got.append(ch.basic_get(n.work, auto_ack=False)) or got[-1][0] is not None,
               "the message to reject")
    ch.basic_reject(got[-1][0].delivery_tag, requeue=False)
    [(method, props, body)] = get_all(ch, n.dlq, 1)
    expect(body == b"reject-me", f"dead letter body {body!r}")
    expect(method.exchange == n.dlx and method.routing_key == "dead",
           f"dead letter came via {method.exchange}/{method.routing_key}")
    expect_x_death(props.headers, n.work)
    ch.close()


def check_mandatory_return():
    conn = state["conn"]
    ch = conn.channel()
    returned = []
    ch.add_on_return_callback(lambda _ch, method, _props, body: returned.append((method, body)))
    ch.basic_publish("", n.nowhere, b"to nowhere", mandatory=True)
    wait_until(lambda: returned, "basic.return", step=pump(conn))
    method, body = returned[0]
    expect(method.reply_code == 312 and method.reply_text == "NO_ROUTE",
           f"returned {method.reply_code} {method.reply_text}")
    expect(method.routing_key == n.nowhere and body == b"to nowhere", f"returned {method} {body!r}")
    ch.close()


def check_rpc():
    conn = state["conn"]
    server_conn = connect(URL)
    server = server_conn.channel()
    reply_tos = set()

    def on_request(ch_, method, props, body):
        reply_tos.add(props.reply_to)
        ch_.basic_publish("", props.reply_to, b"pong " + body,
                          pika.BasicProperties(correlation_id=props.correlation_id))
        ch_.basic_ack(method.delivery_tag)

    server.basic_consume(n.rpc, on_request)
    client = conn.channel()
    answers = {}
    client.basic_consume("amq.rabbitmq.reply-to",
                         lambda _ch, _m, props, body: answers.__setitem__(props.correlation_id, body.decode()),
                         auto_ack=True)
    for i in range(3):
        client.basic_publish("", n.rpc, f"ping {i}".encode(),
                             pika.BasicProperties(reply_to="amq.rabbitmq.reply-to", correlation_id=f"c{i}"))

    def both():
        server_conn.process_data_events(time_limit=0.005)
        conn.process_data_events(time_limit=0.005)

    wait_until(lambda: len(answers) >= 3, f"3 answers (have {len(answers)})", step=both)
    for i in range(3):
        expect(answers.get(f"c{i}") == f"pong ping {i}", f"answer c{i} is {answers.get(f'c{i}')!r}")
    expect(len(reply_tos) == 1 and next(iter(reply_tos)).startswith("amq.rabbitmq.reply-to."),
           f"server saw reply_to {reply_tos}")
    client.close()
    server_conn.close()
    return "direct reply-to"


def check_large_message():
    ch = state["conn"].channel()
    ch.confirm_delivery()
    body = os.urandom(MIB)
    ch.basic_publish("", n.work, body)
    [(_, _, got)] = get_all(ch, n.work, 1)
    expect(len(got) == MIB, f"got {len(got)} bytes")
    expect(got == body, "the body differs")
    ch.close()


def check_close():
    conn = state["conn"]
    ch = conn.channel()
    for q in n.queues:
        ch.queue_delete(q)
    for x in n.exchanges:
        ch.exchange_delete(x)
    ch.close()
    conn.close()  # raises if the broker closed the connection with an error meanwhile
    expect(conn.is_closed, "the connection is not closed")


run_checklist([
    ("connect", check_connect),
    ("connect-vhost", check_connect_vhost),
    ("heartbeat", check_heartbeat),
    ("declare", check_declare),
    ("bind-topic", check_bind_topic),
    ("publish-confirm", check_publish_confirm),
    ("consume-ack-prefetch", check_consume_ack_prefetch),
    ("nack-requeue", check_nack_requeue),
    ("reject-dlx", check_reject_dlx),
    ("mandatory-return", check_mandatory_return),
    ("rpc", check_rpc),
    ("large-message", check_large_message),
    ("close", check_close),
])

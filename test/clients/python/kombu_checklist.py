#!/usr/bin/env python3
"""The drop-in checklist (../README.md) with kombu's Producer and Consumer over py-amqp (the
pyamqp:// transport Celery uses).

Usage: python3 kombu_checklist.py <amqp-url> [<amqp-url-of-vhost-test>]
Consumers run by drain_events with short timeouts until a condition holds (wait_until).
kombu's Message has ack / reject / requeue but no nack: nack-requeue uses requeue()
(basic.reject requeue=true), which is what kombu and Celery send.
"""
import os
import socket
import time

from kombu import Connection, Consumer, Exchange, Producer, Queue, binding

from checklist import (CONFIRM_COUNT, HEARTBEAT_S, IDLE_S, MIB, NO_VHOST, OTHER_ARGS, PREFETCH, TOPIC_KEYS,
                       TOPIC_MATCHED, TOPIC_UNMATCHED, Skip, expect, expect_x_death, names, parse_args,
                       run_checklist, wait_until, work_args)

URL, VHOST_URL = parse_args()
n = names("kombu")
state = {}

ae = Exchange(n.ae, type="fanout", durable=False)
topic = Exchange(n.topic, type="topic", durable=False, arguments={"alternate-exchange": n.ae})
dlx = Exchange(n.dlx, type="direct", durable=False)
default = Exchange("", type="direct", durable=False, no_declare=True)
work_q = Queue(n.work, exchange=default, routing_key=n.work, durable=False, queue_arguments=work_args(n))
topic_q = Queue(n.topic_q, durable=False, queue_arguments=OTHER_ARGS,
                bindings=[binding(topic, routing_key="*.orange.*"), binding(topic, routing_key="lazy.#")])
ae_q = Queue(n.ae_q, exchange=ae, durable=False, queue_arguments=OTHER_ARGS)
dlq = Queue(n.dlq, exchange=dlx, routing_key="dead", durable=False, queue_arguments=OTHER_ARGS)
rpc_q = Queue(n.rpc, exchange=default, routing_key=n.rpc, durable=False, queue_arguments=OTHER_ARGS)
RAW = {"content_type": "application/octet-stream", "content_encoding": "binary", "serializer": None, "retry": False}


def connect(url, **kwargs):
    conn = Connection(url, connect_timeout=5, **kwargs)
    conn.connect()
    return conn


def drain(*conns):
    def step():
        for c in conns:
            try:
                c.drain_events(timeout=0.01)
            except socket.timeout:
                pass
    return step


def get_all(queue, count):
    got = []

    def poll():
        m = queue.get(no_ack=True)
        if m is not None:
            got.append(m)
        return len(got) >= count

    wait_until(poll, f"{count} messages in {queue.name} (have {len(got)})")
    expect(queue.get(no_ack=True) is None, f"more than {count} messages in {queue.name}")
    return got


def ready(queue):
    return queue.queue_declare(passive=True).message_count


def check_connect():
    conn = state["conn"] = connect(URL, heartbeat=0)
    conn.channel().close()
    p = conn.connection.server_properties
    return f"server {p['product']} {p['version']}"


def check_connect_vhost():
    if not VHOST_URL:
        raise Skip(NO_VHOST)
    conn = connect(VHOST_URL)
    q = Queue("", exclusive=True)(conn.channel())
    name = q.declare()
    expect(name.startswith("amq.gen-"), f"server-named queue {name}")
    conn.close()


def check_heartbeat():
    conn = connect(URL, heartbeat=HEARTBEAT_S)
    hb = conn.connection.heartbeat  # py-amqp's negotiated value
    expect(hb == HEARTBEAT_S, f"negotiated heartbeat {hb}, asked {HEARTBEAT_S}")
    # kombu sends heartbeats only when the application calls heartbeat_check (Celery's worker does)
    end = time.monotonic() + IDLE_S
    while time.monotonic() < end:
        conn.heartbeat_check(rate=4)
        try:
            conn.drain_events(timeout=0.25)
        except socket.timeout:
            pass
    Queue("", exclusive=True)(conn.channel()).declare()
    conn.close()
    return f"{hb} s, idle {IDLE_S:.0f} s with heartbeat_check"


def check_declare():
    ch = state["conn"].channel()
    for x in (ae, topic, dlx):
        x(ch).declare()
    name, count, _ = work_q(ch).queue_declare()
    expect(name == n.work and count == 0, f"declare-ok {name} {count}")
    for q in (ae_q, dlq, rpc_q):
        q(ch).declare()  # the queue, its exchange and its binding
    topic_q(ch).queue_declare()
    work_q(ch).queue_declare()  # the same arguments again
    ch.close()


def check_bind_topic():
    ch = state["conn"].channel()
    topic_q(ch).declare()  # declares the two topic bindings
    producer = Producer(ch, exchange=topic)
    for key in TOPIC_KEYS:
        producer.publish(key.encode(), routing_key=key, **RAW)
    matched = [m.body.decode() for m in get_all(topic_q(ch), len(TOPIC_MATCHED))]
    expect(matched == TOPIC_MATCHED, f"topic queue got {matched}")
    other = [m.body.decode() for m in get_all(ae_q(ch), len(TOPIC_UNMATCHED))]
    expect(other == TOPIC_UNMATCHED, f"alternate exchange got {other}")
    ch.close()


def check_publish_confirm():
    conn = connect(URL, transport_options={"confirm_publish": True})
    ch = conn.channel()
    producer = Producer(ch)
    for i in range(CONFIRM_COUNT):
        # with confirm_publish py-amqp waits for the ack of each publish; a nack raises MessageNacked
        producer.publish(str(i).encode(), routing_key=n.work, delivery_mode=2, **RAW)
    count = ready(work_q(ch))
    expect(count == CONFIRM_COUNT, f"queue holds {count}")
    conn.close()
    return "transport_options confirm_publish"


def check_consume_ack_prefetch():
    conn = state["conn"]
    ch = conn.channel()
    got, held, redelivered = [], [], []
    acking = [False]

    def on_message(body, message):
        got.append(int(body))
        if message.delivery_info["redelivered"]:
            redelivered.append(body)
        if acking[0]:
            message.ack()
        else:
            held.append(message)

    consumer = Consumer(ch, queues=[work_q], callbacks=[on_message], no_ack=False, prefetch_count=PREFETCH,
                        auto_declare=False, accept=["application/octet-stream"])
    consumer.consume()
    wait_until(lambda: len(got) >= PREFETCH, f"{PREFETCH} deliveries", step=drain(conn))
    count = ready(work_q(ch))
    expect(len(got) == PREFETCH, f"{len(got)} deliveries unacked with prefetch {PREFETCH}")
    expect(count == CONFIRM_COUNT - PREFETCH, f"queue reports {count} ready with {PREFETCH} unacked")
    acking[0] = True
    for m in held:
        m.ack()
    wait_until(lambda: len(got) >= CONFIRM_COUNT, f"all {CONFIRM_COUNT} deliveries", step=drain(conn))
    consumer.cancel()
    expect(got == list(range(CONFIRM_COUNT)), f"order {got}")
    expect(not redelivered, f"redelivered {redelivered}")
    left = ready(work_q(ch))
    expect(left == 0, f"{left} left")
    ch.close()


def check_nack_requeue():
    conn = state["conn"]
    ch = conn.channel()
    flags = []

    def on_message(_body, message):
        flags.append(message.delivery_info["redelivered"])
        if len(flags) == 1:
            message.requeue()
        else:
            message.ack()

    consumer = Consumer(ch, queues=[work_q], callbacks=[on_message], prefetch_count=1, auto_declare=False,
                        accept=["application/octet-stream"])
    consumer.consume()
    Producer(ch).publish(b"nack-me", routing_key=n.work, **RAW)
    wait_until(lambda: len(flags) >= 2, "the redelivery", step=drain(conn))
    consumer.cancel()
    expect(flags == [False, True], f"redelivered flags {flags}")
    ch.close()
    return "Message.requeue (basic.reject requeue=true): kombu has no nack"


def check_reject_dlx():
    ch = state["conn"].channel()
    Producer(ch).publish(b"reject-me", routing_key=n.work, **RAW)
    got = []
    wait_until(lambda: got.append(work_q(ch).get(no_ack=False)) or got[-1] is not None, "the message to reject")
    got[-1].reject(requeue=False)
    [dead] = get_all(dlq(ch), 1)
    expect(dead.body == b"reject-me", f"dead letter body {dead.body!r}")
    info = dead.delivery_info
    expect(info["exchange"] == n.dlx and info["routing_key"] == "dead",
           f"dead letter came via {info['exchange']}/{info['routing_key']}")
    expect_x_death(dead.headers, n.work)
    ch.close()


def check_mandatory_return():
    conn = state["conn"]
    ch = conn.channel()
    returned = []
    producer = Producer(ch, on_return=lambda exc, exchange, routing_key, message: returned.append((exc, routing_key, message)))
    producer.publish(b"to nowhere", routing_key=n.nowhere, mandatory=True, **RAW)
    wait_until(lambda: returned, "basic.return", step=drain(conn))
    exc, routing_key, message = returned[0]
    expect(getattr(exc, "reply_code", None) == 312 and getattr(exc, "reply_text", None) == "NO_ROUTE",
           f"returned {exc!r}")
    expect(routing_key == n.nowhere and message.body == b"to nowhere", f"returned {routing_key} {message.body!r}")
    ch.close()


def check_rpc():
    conn = state["conn"]
    server_conn = connect(URL)
    server_ch = server_conn.channel()
    reply_tos = set()

    def on_request(body, message):
        reply_to = message.properties["reply_to"]
        reply_tos.add(reply_to)
        Producer(server_ch).publish(b"pong " + body, routing_key=reply_to,
                                    correlation_id=message.properties["correlation_id"], **RAW)
        message.ack()

    Consumer(server_ch, queues=[rpc_q], callbacks=[on_request], auto_declare=False,
             accept=["application/octet-stream"]).consume()
    client_ch = conn.channel()
    answers = {}
    reply_q = Queue("amq.rabbitmq.reply-to", no_declare=True)
    Consumer(client_ch, queues=[reply_q], no_ack=True, auto_declare=False, accept=["application/octet-stream"],
             callbacks=[lambda body, m: answers.__setitem__(m.properties["correlation_id"], body.decode())]).consume()
    producer = Producer(client_ch)  # direct reply-to: publish on the consuming channel
    for i in range(3):
        producer.publish(f"ping {i}".encode(), routing_key=n.rpc, reply_to="amq.rabbitmq.reply-to",
                         correlation_id=f"c{i}", **RAW)
    wait_until(lambda: len(answers) >= 3, f"3 answers (have {len(answers)})", step=drain(server_conn, conn))
    for i in range(3):
        expect(answers.get(f"c{i}") == f"pong ping {i}", f"answer c{i} is {answers.get(f'c{i}')!r}")
    expect(len(reply_tos) == 1 and next(iter(reply_tos)).startswith("amq.rabbitmq.reply-to."),
           f"server saw reply_to {reply_tos}")
    client_ch.close()
    server_conn.close()
    return "direct reply-to"


def check_large_message():
    conn = connect(URL, transport_options={"confirm_publish": True})
    ch = conn.channel()
    body = os.urandom(MIB)
    Producer(ch).publish(body, routing_key=n.work, **RAW)
    [m] = get_all(work_q(ch), 1)
    expect(len(m.body) == MIB, f"got {len(m.body)} bytes")
    expect(m.body == body, "the body differs")
    conn.close()


def check_close():
    conn = state["conn"]
    ch = conn.channel()
    for q in n.queues:
        ch.queue_delete(q)
    for x in n.exchanges:
        ch.exchange_delete(x)
    ch.close()
    conn.close()
    expect(not conn.connected, "the connection is still open")


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

#!/usr/bin/env python3
"""RabbitMQ's six tutorials (https://www.rabbitmq.com/tutorials, the Python/pika versions)
with pika's BlockingConnection, as checks.

Usage: python3 tutorials.py amqp://guest:guest@127.0.0.1:5672
Prints one line per tutorial (`ok <name>` / `FAIL <name>: why`) and exits non-zero on any
failure. Driven by test/ext/pika.test.ts; the amqplib twin is test/wire/tutorials.test.ts.

Each tutorial's programs (producer, workers, subscribers, RPC server and client) get their own
connection, all driven from this one thread: `pump` lets every connection process its events
until a condition holds or a deadline passes, so nothing sleeps and nothing hangs. A watchdog
alarm ends the whole script if a blocking call ever stalls anyway.

Names get a per-run suffix so that an external broker's leftovers (a durable task queue) or a
concurrent run cannot disturb the counts. The last message published reaches every queue of
the tutorial ("end"): deliveries from one channel to one queue keep their order, so once the
marker is in, the list is complete.
"""
import signal
import sys
import time
import traceback
import uuid

import pika
from pika.exceptions import ChannelClosedByBroker

URL = sys.argv[1] if len(sys.argv) == 2 else None
RUN = uuid.uuid4().hex[:6]
WAIT_S = 10.0
WATCHDOG_S = 100


class CheckFailed(Exception):
    pass


def expect(cond, why):
    if not cond:
        raise CheckFailed(why)


def name(base):
    return f"{base}.pika-{RUN}"


def pump(conns, done, what, timeout=WAIT_S, tick=None):
    """Processes the connections' events until done() is true; raises after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        if tick is not None:
            tick()
        if done():
            return
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout} s waiting for {what}")
        for c in conns:
            c.process_data_events(time_limit=0.01)


class Tutorial:
    """Connections opened by one tutorial, and what to delete once they are closed."""

    def __init__(self):
        self.conns = []
        self.queues = []
        self.exchanges = []

    def connect(self):
        params = pika.URLParameters(URL)
        params.connection_attempts = 1
        params.socket_timeout = 5
        params.stack_timeout = 10
        params.blocked_connection_timeout = 10
        conn = pika.BlockingConnection(params)
        self.conns.append(conn)
        return conn

    def channel(self):
        return self.connect().channel()

    def close(self):
        for c in self.conns:
            if c.is_open:
                c.close()
        self.conns = []
        if self.queues or self.exchanges:
            conn = self.connect()
            ch = conn.channel()
            for q in self.queues:
                ch.queue_delete(q)
            for x in self.exchanges:
                ch.exchange_delete(x)
            conn.close()
            self.conns = []


class Inbox:
    """Bodies received by one auto-ack consumer."""

    def __init__(self):
        self.bodies = []

    def __call__(self, _ch, _method, _props, body):
        self.bodies.append(body.decode())

    def has_end(self):
        return "end" in self.bodies


# --- 1 "Hello World!" -------------------------------------------------------------------------

def hello_world(t):
    queue = name("hello")
    t.queues.append(queue)
    sender = t.channel()
    sender.queue_declare(queue=queue)
    receiver_conn = t.connect()
    receiver = receiver_conn.channel()
    receiver.queue_declare(queue=queue)
    inbox = Inbox()
    receiver.basic_consume(queue=queue, on_message_callback=inbox, auto_ack=True)

    sender.basic_publish(exchange="", routing_key=queue, body=b"Hello World!")
    pump([receiver_conn], lambda: inbox.bodies, "Hello World! to arrive")
    expect(inbox.bodies == ["Hello World!"], f"received {inbox.bodies}")
    left = sender.queue_declare(queue=queue, passive=True).method.message_count
    expect(left == 0, f"{left} messages left in {queue}")


# --- 2 work queues ----------------------------------------------------------------------------

def work_queues(t):
    queue = name("task_queue")
    t.queues.append(queue)
    producer_conn = t.connect()
    producer = producer_conn.channel()
    producer.queue_declare(queue=queue, durable=True)

    # tutorial 2: redeclaring a queue with other parameters is an error
    other = producer_conn.channel()
    try:
        other.queue_declare(queue=queue, durable=False)
        raise CheckFailed("redeclaring the durable queue as transient succeeded")
    except ChannelClosedByBroker as e:
        want = (f"PRECONDITION_FAILED - inequivalent arg 'durable' for queue '{queue}' in vhost '/':"
                " received 'false' but current is 'true'")
        expect(e.reply_code == 406 and e.reply_text == want, f"redeclare answered {e.reply_code} {e.reply_text!r}")

    tasks = [f"task {i} {'.' * (i % 4 + 1)}" for i in range(24)]
    done, by_fast, by_slow, problems = [], [], [], []
    held = {}  # the slow worker's task in progress: delivery tag, body, fast count at receipt

    def check(method, props, body):
        if props.delivery_mode != 2:
            problems.append(f"{body.decode()!r} not persistent (delivery_mode={props.delivery_mode})")
        if method.redelivered:
            problems.append(f"{body.decode()!r} redelivered")

    slow_conn, fast_conn = t.connect(), t.connect()
    slow, fast = slow_conn.channel(), fast_conn.channel()
    for ch in (slow, fast):
        ch.queue_declare(queue=queue, durable=True)
        ch.basic_qos(prefetch_count=1)

    def on_slow(ch, method, props, body):
        check(method, props, body)
        if held:
            problems.append("prefetch 1: the slow worker was given a second task")
        by_slow.append(body.decode())
        held.update(tag=method.delivery_tag, body=body.decode(), at=len(by_fast))

    def on_fast(ch, method, props, body):
        check(method, props, body)
        by_fast.append(body.decode())
        ch.basic_ack(delivery_tag=method.delivery_tag)
        done.append(body.decode())

    def finish_slow():
        # the slow worker "works" until the fast one has done 3 more tasks, or nothing else is
        # left: event-driven slowness, no clock
        if held and (len(by_fast) - held["at"] >= 3 or len(done) == len(tasks) - 1):
            slow.basic_ack(delivery_tag=held["tag"])
            done.append(held["body"])
            held.clear()

    slow.basic_consume(queue=queue, on_message_callback=on_slow)
    fast.basic_consume(queue=queue, on_message_callback=on_fast)
    for task in tasks:
        producer.basic_publish(
            exchange="", routing_key=queue, body=task.encode(),
            properties=pika.BasicProperties(delivery_mode=pika.spec.PERSISTENT_DELIVERY_MODE))

    pump([slow_conn, fast_conn], lambda: len(done) >= len(tasks), f"all {len(tasks)} tasks to be done",
         tick=finish_slow)
    expect(sorted(done) == sorted(tasks), f"done {sorted(done)}")
    expect(len(by_fast) + len(by_slow) == len(tasks),
           f"{len(by_fast)} + {len(by_slow)} deliveries for {len(tasks)} tasks")
    expect(len(by_fast) > len(by_slow), f"fast worker did {len(by_fast)}, slow worker {len(by_slow)}")
    expect(len(by_slow) >= 1, "the slow worker got no task")
    expect(not problems, "; ".join(problems))
    left = producer.queue_declare(queue=queue, durable=True, passive=True).method.message_count
    expect(left == 0, f"{left} messages left in {queue}")
    return f"fast {len(by_fast)}, slow {len(by_slow)}"


# --- 3 publish/subscribe ----------------------------------------------------------------------

def publish_subscribe(t):
    exchange = name("logs")
    t.exchanges.append(exchange)
    subscribers = []
    for _ in range(2):
        conn = t.connect()
        ch = conn.channel()
        ch.exchange_declare(exchange=exchange, exchange_type="fanout")
        queue = ch.queue_declare(queue="", exclusive=True).method.queue
        ch.queue_bind(exchange=exchange, queue=queue)
        inbox = Inbox()
        ch.basic_consume(queue=queue, on_message_callback=inbox, auto_ack=True)
        subscribers.append((conn, queue, inbox))
    names = [q for _, q, _ in subscribers]
    expect(all(q.startswith("amq.gen-") for q in names), f"server-named queues {names}")
    expect(names[0] != names[1], f"both subscribers got queue {names[0]}")

    emitter = t.channel()
    emitter.exchange_declare(exchange=exchange, exchange_type="fanout")
    logs = [f"log line {i}" for i in range(10)]
    for line in logs + ["end"]:
        emitter.basic_publish(exchange=exchange, routing_key="", body=line.encode())

    conns = [c for c, _, _ in subscribers]
    pump(conns, lambda: all(i.has_end() for _, _, i in subscribers), '"end" to reach both subscribers')
    for n, (_, queue, inbox) in enumerate(subscribers):
        expect(inbox.bodies == logs + ["end"], f"subscriber {n} received {inbox.bodies}")

    # "once we disconnect the consumer the queue should be automatically deleted"
    for conn in conns:
        conn.close()
    probe_conn = t.connect()
    for queue in names:
        deadline = time.monotonic() + WAIT_S
        while True:
            probe = probe_conn.channel()
            try:
                probe.queue_declare(queue=queue, passive=True)
                probe.close()
            except ChannelClosedByBroker as e:
                expect(e.reply_code == 404, f"passive declare of {queue} answered {e.reply_code} {e.reply_text!r}")
                break
            if time.monotonic() > deadline:
                raise CheckFailed(f"exclusive queue {queue} still exists after its connection closed")
            probe_conn.process_data_events(time_limit=0.01)


# --- 4 routing --------------------------------------------------------------------------------

def subscribe(t, exchange, exchange_type, bindings):
    """One connection per receiver, each with an exclusive queue bound with its keys."""
    conns, inboxes = [], {}
    for who, keys in bindings.items():
        conn = t.connect()
        ch = conn.channel()
        ch.exchange_declare(exchange=exchange, exchange_type=exchange_type)
        queue = ch.queue_declare(queue="", exclusive=True).method.queue
        for key in keys:
            ch.queue_bind(exchange=exchange, queue=queue, routing_key=key)
        inboxes[who] = Inbox()
        ch.basic_consume(queue=queue, on_message_callback=inboxes[who], auto_ack=True)
        conns.append(conn)
    return conns, inboxes


def routing(t):
    exchange = name("direct_logs")
    t.exchanges.append(exchange)
    conns, inboxes = subscribe(t, exchange, "direct", {
        "errors_to_disk": ["error"],
        "console": ["info", "warning", "error"],
    })
    emitter = t.channel()
    emitter.exchange_declare(exchange=exchange, exchange_type="direct")
    sent = [
        ("info", "info: service started"),
        ("warning", "warning: disk 80% full"),
        ("error", "error: disk full"),
        ("debug", "debug: nobody listens to this"),
        ("error", "error: cannot write"),
        ("info", "info: retrying"),
        ("critical", "critical: nobody is bound to this either"),
        ("error", "end"),
    ]
    for severity, text in sent:
        emitter.basic_publish(exchange=exchange, routing_key=severity, body=text.encode())
    pump(conns, lambda: all(i.has_end() for i in inboxes.values()), '"end" to reach both receivers')
    got = inboxes["errors_to_disk"].bodies
    expect(got == ["error: disk full", "error: cannot write", "end"], f"error-only receiver got {got}")
    got = inboxes["console"].bodies
    expect(got == ["info: service started", "warning: disk 80% full", "error: disk full",
                   "error: cannot write", "info: retrying", "end"], f"info/warning/error receiver got {got}")


# --- 5 topics ---------------------------------------------------------------------------------

def topics(t):
    exchange = name("topic_logs")
    t.exchanges.append(exchange)
    conns, inboxes = subscribe(t, exchange, "topic", {
        "all": ["#"],
        "kern": ["kern.*"],
        "critical": ["*.critical"],
        "kern_or_critical": ["kern.*", "*.critical"],
    })
    emitter = t.channel()
    emitter.exchange_declare(exchange=exchange, exchange_type="topic")
    # routing key -> who receives it (written out by hand, not computed by a matcher)
    cases = [
        ("kern.critical", ["all", "kern", "critical", "kern_or_critical"]),
        ("kern.info", ["all", "kern", "kern_or_critical"]),
        ("cron.critical", ["all", "critical", "kern_or_critical"]),
        ("cron.info", ["all"]),
        ("kern", ["all"]),
        ("kern.disk.critical", ["all"]),
        ("quick.orange.rabbit", ["all"]),
        ("", ["all"]),
    ]
    for key, _ in cases:
        emitter.basic_publish(exchange=exchange, routing_key=key, body=f"{key}: message".encode())
    emitter.basic_publish(exchange=exchange, routing_key="kern.critical", body=b"end")
    pump(conns, lambda: all(i.has_end() for i in inboxes.values()), '"end" to reach every receiver')
    for who, inbox in inboxes.items():
        want = [f"{key}: message" for key, to in cases if who in to] + ["end"]
        expect(inbox.bodies == want, f"{who} received {inbox.bodies}, expected {want}")


# --- 6 RPC ------------------------------------------------------------------------------------

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def rpc(t):
    rpc_queue = name("rpc_queue")
    t.queues.append(rpc_queue)
    expected = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181]

    # the server
    server_conn = t.connect()
    server = server_conn.channel()
    server.queue_declare(queue=rpc_queue)
    server.basic_qos(prefetch_count=1)
    reply_tos = set()

    def on_request(ch, method, props, body):
        reply_tos.add(props.reply_to)
        ch.basic_publish(exchange="", routing_key=props.reply_to,
                         properties=pika.BasicProperties(correlation_id=props.correlation_id),
                         body=str(fib(int(body))).encode())
        ch.basic_ack(delivery_tag=method.delivery_tag)

    server.basic_consume(queue=rpc_queue, on_message_callback=on_request)

    # the client (FibonacciRpcClient)
    client_conn = t.connect()
    client = client_conn.channel()
    callback_queue = client.queue_declare(queue="", exclusive=True).method.queue
    responses, strays = {}, []

    def on_response(_ch, _method, props, body):
        if props.correlation_id in responses and responses[props.correlation_id] is None:
            responses[props.correlation_id] = int(body)
        else:
            strays.append(props.correlation_id)

    client.basic_consume(queue=callback_queue, on_message_callback=on_response, auto_ack=True)

    def request(n):
        corr_id = str(uuid.uuid4())
        responses[corr_id] = None
        client.basic_publish(exchange="", routing_key=rpc_queue,
                             properties=pika.BasicProperties(reply_to=callback_queue, correlation_id=corr_id),
                             body=str(n).encode())
        return corr_id

    # one at a time like the tutorial's client, then ten at once
    answers = []
    for n in range(10):
        corr_id = request(n)
        pump([client_conn, server_conn], lambda: responses[corr_id] is not None, f"the answer to fib({n})")
        answers.append(responses[corr_id])
    ids = [request(n) for n in range(10, 20)]
    pump([client_conn, server_conn], lambda: all(responses[i] is not None for i in ids), "ten concurrent answers")
    answers += [responses[i] for i in ids]
    expect(answers == expected, f"answers {answers}")
    expect(not strays, f"responses with unknown correlation ids {strays}")
    expect(reply_tos == {callback_queue}, f"reply_to seen by the server {reply_tos}, callback queue {callback_queue}")


TUTORIALS = [
    ("hello-world", hello_world),
    ("work-queues", work_queues),
    ("publish-subscribe", publish_subscribe),
    ("routing", routing),
    ("topics", topics),
    ("rpc", rpc),
]


def on_watchdog(_signum, _frame):
    print(f"FAIL watchdog: still running after {WATCHDOG_S} s", flush=True)
    sys.exit(3)


def main():
    if URL is None:
        print("usage: tutorials.py <amqp-url>", file=sys.stderr)
        return 2
    signal.signal(signal.SIGALRM, on_watchdog)
    signal.alarm(WATCHDOG_S)
    failures = 0
    for check_name, fn in TUTORIALS:
        t = Tutorial()
        started = time.monotonic()
        try:
            note = fn(t)
            t.close()
            ms = (time.monotonic() - started) * 1000
            print(f"ok {check_name} ({ms:.0f} ms{', ' + note if note else ''})", flush=True)
        except Exception as e:  # every failure becomes a FAIL line; the next tutorial still runs
            failures += 1
            why = str(e) if isinstance(e, CheckFailed) else f"{type(e).__name__}: {e!r}"
            print(f"FAIL {check_name}: {why}", flush=True)
            traceback.print_exc(file=sys.stderr)
            try:
                t.close()
            except Exception as e2:
                print(f"  (cleanup after {check_name} failed too: {type(e2).__name__}: {e2!r})", file=sys.stderr)
    print(f"{len(TUTORIALS) - failures}/{len(TUTORIALS)} tutorials passed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

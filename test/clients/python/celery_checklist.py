#!/usr/bin/env python3
"""The drop-in checklist (../README.md) with a Celery app (celery_app.py): this script is the
client (apply_async, results by the rpc:// backend over AMQP, publisher confirms) and starts a
real worker process (`celery worker`, prefork pool, late acks, prefetch 1, AMQP heartbeat 1 s).
Besides the checklist it prints `ok retry` for a task retried twice through the broker.

Usage: python3 celery_checklist.py <amqp-url> [<amqp-url-of-vhost-test>]

The worker dies with this script (PR_SET_PDEATHSIG), is stopped with SIGTERM (warm shutdown)
in `close`, and killed in any case before the script exits.
"""
import ctypes
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from checklist import (IDLE_S, MIB, NO_VHOST, Skip, expect, expect_x_death, names, parse_args, run_checklist,
                       wait_until)

URL, VHOST_URL = parse_args()
n = names("celery")
os.environ.update(DROPIN_URL=URL, DROPIN_PREFIX=n.prefix, DROPIN_HEARTBEAT="0")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# configured from the environment set above
from celery_app import add, app, dead, dead_queue, echo, flaky, hold, requeue_once, where, work_queue  # noqa: E402

TMP = tempfile.mkdtemp(prefix="dropin-celery-")
LOG = os.path.join(TMP, "worker.log")
RESULT_S = 15
state = {}


def die_with_parent():
    """In the worker: SIGTERM (warm shutdown) when this script dies, however it dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_worker():
    env = dict(os.environ, DROPIN_HEARTBEAT="1", PYTHONPATH=HERE)
    log = open(LOG, "wb")
    state["worker"] = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool", "prefork", "--concurrency", "1",
         "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-n", f"{n.prefix}@%h"],
        cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    log.close()


def worker_log():
    with open(LOG, encoding="utf-8", errors="replace") as f:
        return f.read()


def worker_trouble():
    """Lines that say the worker lost its broker connection or hit an error. Celery 5.2's prefork
    pool logs a task's Reject as an ERROR ("raised unexpected: ExceptionWithTraceback()") while
    it does reject the message as asked: those two tasks' lines are expected."""
    bad = ("Connection to broker lost", "Cannot connect", "ERROR", "CRITICAL")
    expected = ("celery_app.requeue_once[", "celery_app.dead[")
    return [line for line in worker_log().splitlines()
            if any(b in line for b in bad) and not any(e in line for e in expected)]


def stop_worker():
    w = state.get("worker")
    if w is None or w.poll() is not None:
        return
    w.terminate()
    try:
        w.wait(10)
    except subprocess.TimeoutExpired:
        w.kill()
        w.wait(5)


def channel():
    return state["conn"].default_channel


def ready(queue):
    return queue(channel()).queue_declare(passive=True)


def check_connect():
    conn = state["conn"] = app.connection_for_write()
    conn.ensure_connection(max_retries=1)
    p = conn.connection.server_properties
    started = time.monotonic()
    start_worker()
    wait_until(lambda: " ready." in worker_log() or state["worker"].poll() is not None, "the worker to be ready",
               timeout=25)
    expect(state["worker"].poll() is None, f"the worker exited {state['worker'].returncode}:\n{worker_log()}")
    expect(add.delay(2, 3).get(timeout=RESULT_S) == 5, "add(2, 3) is not 5")
    return f"server {p['product']} {p['version']}, worker ready and answering in {time.monotonic() - started:.1f} s"


def check_connect_vhost():
    if not VHOST_URL:
        raise Skip(NO_VHOST)
    conn = app.connection_for_write(url=VHOST_URL)
    conn.ensure_connection(max_retries=1)
    name, _, _ = conn.default_channel.queue_declare("", exclusive=True)
    expect(name.startswith("amq.gen-"), f"server-named queue {name}")
    conn.close()
    return "a client connection (the worker runs in the default vhost)"


def check_heartbeat():
    time.sleep(IDLE_S)  # the worker idles with broker_heartbeat=1
    expect(add.delay(1, 1).get(timeout=RESULT_S) == 2, "add(1, 1) is not 2")
    trouble = worker_trouble()
    expect(not trouble, f"worker log: {trouble}")
    return f"worker broker_heartbeat=1, idle {IDLE_S:.0f} s, connection kept"


def check_declare():
    name, count, consumers = ready(work_queue)
    expect(name == work_queue.name and consumers == 1, f"{name}: {count} ready, {consumers} consumers")
    work_queue(channel()).queue_declare()  # the worker's arguments again: equivalent
    dead_queue(channel()).declare()  # <p>.dlx, <p>.dlq and the binding dead
    return "topic exchange, queue with x-dead-letter-exchange (declared by the worker)"


def check_bind_topic():
    got = where.delay().get(timeout=RESULT_S)
    want = {"exchange": f"{n.prefix}.tasks", "routing_key": "job.where"}
    expect(got == want, f"the task came via {got}, expected {want}")
    return "job.where matched job.*"


def check_publish_confirm():
    results = [add.delay(i, i) for i in range(10)]
    with app.producer_or_acquire() as producer:
        confirm = getattr(producer.channel, "_confirm_selected", None)
    expect(confirm is True, f"the producer's channel is not in confirm mode ({confirm!r})")
    got = [r.get(timeout=RESULT_S) for r in results]
    expect(got == [2 * i for i in range(10)], f"results {got}")
    return "broker_transport_options confirm_publish"


def check_consume_ack_prefetch():
    started, release = os.path.join(TMP, "started"), os.path.join(TMP, "release")
    h = hold.delay(started, release)
    others = [add.delay(i, 1) for i in range(2)]
    wait_until(lambda: os.path.exists(started), "the hold task to start", timeout=RESULT_S)
    _, count, _ = ready(work_queue)
    expect(count == 2, f"{count} ready while the worker holds one unacked task, expected 2 (prefetch 1)")
    open(release, "w").close()
    expect(h.get(timeout=RESULT_S) is True, "hold was not released")
    expect([r.get(timeout=RESULT_S) for r in others] == [1, 2], "add results")
    _, left, _ = ready(work_queue)
    expect(left == 0, f"{left} left")
    return "task_acks_late, worker_prefetch_multiplier=1"


def check_retry():
    retries = flaky.delay().get(timeout=RESULT_S)
    expect(retries == 2, f"flaky succeeded after {retries} retries, expected 2")
    return "self.retry(countdown=0.2) twice, then success"


def check_nack_requeue():
    got = requeue_once.delay().get(timeout=RESULT_S)
    expect(got == "redelivered", f"requeue_once returned {got!r}")
    return "Reject(requeue=True) is basic.reject requeue=true; Celery has no nack"


def check_reject_dlx():
    r = dead.delay()
    got = []
    wait_until(lambda: got.append(dead_queue(channel()).get(no_ack=True)) or got[-1] is not None,
               "the dead letter", timeout=RESULT_S)
    m = got[-1]
    expect(m.headers.get("id") == r.id, f"dead letter is task {m.headers.get('id')}, expected {r.id}")
    expect_x_death(m.headers, work_queue.name, exchange=f"{n.prefix}.tasks", routing_keys=["job.dead"])


def check_mandatory_return():
    raise Skip("Celery lacks mandatory publishing (apply_async has no basic.return handling)")


def check_rpc():
    r = add.delay(20, 22)
    expect(r.get(timeout=RESULT_S) == 42, "add(20, 22) is not 42")
    oid = app.backend.oid
    _, _, consumers = channel().queue_declare(oid, passive=True)
    expect(consumers == 1, f"reply queue {oid} has {consumers} consumers")
    return "rpc:// backend: replies to a per-client reply_to queue; Celery does not use amq.rabbitmq.reply-to"


def check_large_message():
    data = os.urandom(MIB // 2).hex()  # 1 MiB of JSON-safe text
    got = echo.delay(data).get(timeout=RESULT_S)
    expect(got["sha256"] == hashlib.sha256(data.encode()).hexdigest(), "the worker saw another argument")
    expect(got["data"] == data, "the result differs")
    return "1 MiB argument and 1 MiB result"


def check_close():
    w = state["worker"]
    w.terminate()  # warm shutdown
    try:
        code = w.wait(20)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the worker did not stop within 20 s of SIGTERM:\n{worker_log()[-2000:]}")
    expect(code == 0, f"the worker exited {code}")
    trouble = worker_trouble()
    expect(not trouble, f"worker log: {trouble}")
    delete_all(channel())
    state["deleted"] = True
    app.close()
    state["conn"].close()
    return "worker warm shutdown exit 0"


def delete_all(ch):
    for q in (work_queue.name, dead_queue.name):
        ch.queue_delete(q)
    for x in (f"{n.prefix}.tasks", f"{n.prefix}.dlx"):
        ch.exchange_delete(x)


def on_exit():
    stop_worker()
    if not state.get("deleted"):
        # a check failed before close: leave nothing behind on the broker
        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1)
                delete_all(conn.default_channel)
        except Exception as e:  # noqa: BLE001 - best effort, the run has failed already
            print(f"cleanup after the failure failed too: {e!r}", file=sys.stderr)
    if os.environ.get("DROPIN_KEEP_LOG"):
        print(worker_log(), file=sys.stderr)
    shutil.rmtree(TMP, ignore_errors=True)


run_checklist([
    ("connect", check_connect),
    ("connect-vhost", check_connect_vhost),
    ("heartbeat", check_heartbeat),
    ("declare", check_declare),
    ("bind-topic", check_bind_topic),
    ("publish-confirm", check_publish_confirm),
    ("consume-ack-prefetch", check_consume_ack_prefetch),
    ("retry", check_retry),
    ("nack-requeue", check_nack_requeue),
    ("reject-dlx", check_reject_dlx),
    ("mandatory-return", check_mandatory_return),
    ("rpc", check_rpc),
    ("large-message", check_large_message),
    ("close", check_close),
], check_s=40, on_exit=on_exit)

"""The drop-in checklist's shared parts for the Python scripts (see ../README.md): argument
parsing, names, the runner that prints `ok` / `FAIL` / `skip` lines with a deadline per check
(SIGALRM, so even a blocked socket call is interrupted), and the x-death assertion.
"""
import os
import signal
import sys
import time
import traceback
import uuid
from types import SimpleNamespace

CHECKS = [
    "connect", "connect-vhost", "heartbeat", "declare", "bind-topic", "publish-confirm",
    "consume-ack-prefetch", "nack-requeue", "reject-dlx", "mandatory-return", "rpc",
    "large-message", "close",
]

CHECK_S = 20
HEARTBEAT_S = 1
IDLE_S = 3.0
CONFIRM_COUNT = 50
PREFETCH = 5
MIB = 1024 * 1024
TOPIC_KEYS = ["quick.orange.rabbit", "lazy.brown.fox", "quick.brown.fox", "lazy", "orange"]
TOPIC_MATCHED = ["quick.orange.rabbit", "lazy.brown.fox", "lazy"]
TOPIC_UNMATCHED = ["quick.brown.fox", "orange"]
OTHER_ARGS = {"x-expires": 600000}
NO_VHOST = 'the broker has no vhost "test" (see the test setup)'


class CheckFailed(Exception):
    pass


class Skip(Exception):
    """A check's way of saying the client lacks a feature."""


class CheckTimeout(BaseException):
    """Raised by SIGALRM; a BaseException so that a client's `except Exception` cannot eat it."""


def expect(cond, why):
    if not cond:
        raise CheckFailed(why)


def parse_args():
    """`<script> <url> [<vhost-url>]`"""
    if len(sys.argv) not in (2, 3):
        print("usage: <script> <amqp-url> [<amqp-url-of-vhost-test>]", file=sys.stderr)
        sys.exit(2)
    return sys.argv[1], (sys.argv[2] if len(sys.argv) == 3 and sys.argv[2] else None)


def names(client):
    p = f"dropin.{client}.{uuid.uuid4().hex[:6]}"
    n = SimpleNamespace(prefix=p, topic=f"{p}.topic", ae=f"{p}.ae", dlx=f"{p}.dlx", work=f"{p}.work",
                        topic_q=f"{p}.topic-q", ae_q=f"{p}.ae-q", dlq=f"{p}.dlq", rpc=f"{p}.rpc",
                        nowhere=f"{p}.nowhere")
    n.queues = [n.work, n.topic_q, n.ae_q, n.dlq, n.rpc]
    n.exchanges = [n.topic, n.ae, n.dlx]
    return n


def work_args(n):
    return {
        "x-message-ttl": 600000,
        "x-max-length": 1000,
        "x-dead-letter-exchange": n.dlx,
        "x-dead-letter-routing-key": "dead",
        "x-expires": 600000,
    }


def _s(v):
    return v.decode() if isinstance(v, (bytes, bytearray)) else v


def expect_x_death(headers, queue, exchange="", routing_keys=None):
    """The dead-lettering of one rejected message, as RabbitMQ 3.10 writes it; by default for a
    message published to the default exchange with the queue's name as routing key."""
    expect(isinstance(headers, dict), f"no headers on the dead letter: {headers!r}")
    deaths = headers.get("x-death")
    expect(isinstance(deaths, list) and len(deaths) == 1, f"x-death is {deaths!r}")
    d = deaths[0]
    got = {
        "count": d.get("count"),
        "reason": _s(d.get("reason")),
        "queue": _s(d.get("queue")),
        "exchange": _s(d.get("exchange")),
        "routing-keys": [_s(k) for k in d.get("routing-keys", [])],
    }
    want = {"count": 1, "reason": "rejected", "queue": queue, "exchange": exchange,
            "routing-keys": routing_keys if routing_keys is not None else [queue]}
    expect(got == want, f"x-death[0] is {got}, expected {want}")
    expect(d.get("time") is not None, f"x-death[0] has no time: {d!r}")
    expect(_s(headers.get("x-first-death-reason")) == "rejected",
           f"x-first-death-reason is {headers.get('x-first-death-reason')!r}")
    expect(_s(headers.get("x-first-death-queue")) == queue,
           f"x-first-death-queue is {headers.get('x-first-death-queue')!r}")


def wait_until(cond, what, timeout=5.0, step=None):
    """Calls step() (e.g. processing a connection's events) until cond() is true."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise CheckFailed(f"timed out after {timeout} s waiting for {what}")
        if step is not None:
            step()
        else:
            time.sleep(0.01)


def _on_alarm(_signum, _frame):
    raise CheckTimeout()


def run_checklist(checks, check_s=CHECK_S, on_exit=None):
    """Runs (name, fn) in order, one line each, and exits: 0 if none failed. fn returns a note
    or None, raises Skip for a missing feature, anything else to fail. If `connect` fails the
    rest are not run (and fail). on_exit() runs last (e.g. to stop a child process)."""
    signal.signal(signal.SIGALRM, _on_alarm)
    ok = skipped = failed = 0
    abort = None
    for name, fn in checks:
        if abort:
            print(f"FAIL {name}: not run: {abort}", flush=True)
            failed += 1
            continue
        started = time.monotonic()
        signal.alarm(check_s)
        try:
            note = fn()
            signal.alarm(0)
            ms = (time.monotonic() - started) * 1000
            print(f"ok {name} ({ms:.0f} ms{', ' + note if note else ''})", flush=True)
            ok += 1
        except Skip as e:
            signal.alarm(0)
            print(f"skip {name}: {e}", flush=True)
            skipped += 1
        except (Exception, CheckTimeout) as e:
            signal.alarm(0)
            failed += 1
            if isinstance(e, CheckTimeout):
                why = f"timed out after {check_s} s"
            elif isinstance(e, CheckFailed):
                why = str(e)
            else:
                why = f"{type(e).__name__}: {e!r}"
            print(f"FAIL {name}: {why}".replace("\n", " "), flush=True)
            traceback.print_exc(file=sys.stderr)
            if name == "connect":
                abort = "connect failed"
    if on_exit is not None:
        try:
            on_exit()
        except Exception as e:  # noqa: BLE001 - reported, and the run fails
            print(f"FAIL cleanup: {type(e).__name__}: {e!r}", flush=True)
            failed += 1
    print(f"summary: {ok} ok, {skipped} skip, {failed} FAIL", flush=True)
    sys.stdout.flush()
    # exit now: a client's leftover thread or socket must not keep the script alive
    os._exit(1 if failed else 0)

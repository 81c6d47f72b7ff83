#!/usr/bin/env python3
"""Foundation acceptance with pika: a BlockingConnection opens a channel and closes cleanly.

Usage: python3 connect.py amqp://guest:guest@127.0.0.1:5672
Prints one line per check (`ok <name>` / `FAIL <name>: why`); exits non-zero on any failure.
Driven by test/ext/pika.test.ts.
"""
import signal
import sys

import pika

WATCHDOG_S = 30


def on_watchdog(_signum, _frame):
    print(f"FAIL watchdog: still running after {WATCHDOG_S} s", flush=True)
    sys.exit(3)


def main(url):
    signal.signal(signal.SIGALRM, on_watchdog)
    signal.alarm(WATCHDOG_S)

    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = 5
    params.stack_timeout = 10
    params.blocked_connection_timeout = 10

    conn = pika.BlockingConnection(params)
    if not conn.is_open:
        print("FAIL connection-open: connection is not open")
        return 1
    print("ok connection-open")

    ch = conn.channel()
    if not ch.is_open:
        print("FAIL channel-open: channel is not open")
        return 1
    print(f"ok channel-open {ch.channel_number}")

    ch.close()
    if not ch.is_closed:
        print("FAIL channel-close: channel is not closed")
        return 1
    print("ok channel-close")

    # closing raises if the broker closed the connection with an error meanwhile
    conn.close()
    if not conn.is_closed:
        print("FAIL connection-close: connection is not closed")
        return 1
    print("ok connection-close")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: connect.py <amqp-url>", file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(main(sys.argv[1]))
    except Exception as e:  # any pika exception is a failure with its reason on stdout
        print(f"FAIL connect: {type(e).__name__}: {e!r}", flush=True)
        sys.exit(1)

#!/usr/bin/env python3
"""amqps with pika: EXTERNAL login with a client certificate, PLAIN over TLS, and a client
that trusts another CA refusing the server.

Usage: python3 tls.py <host> <tls-port> <ca.pem> <client.pem> <client.key> <other-ca.pem>
Prints one line per check (`ok <name>` / `FAIL <name>: why`); exits non-zero on any failure.
Driven by test/ext/pika-tls.test.ts.
"""
import signal
import ssl
import sys

import pika

WATCHDOG_S = 60


def on_watchdog(_signum, _frame):
    print(f"FAIL watchdog: still running after {WATCHDOG_S} s", flush=True)
    sys.exit(3)


def params(host, port, ca, cert=None, key=None, credentials=None):
    ctx = ssl.create_default_context(cafile=ca)
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    p = pika.ConnectionParameters(
        host=host,
        port=port,
        ssl_options=pika.SSLOptions(ctx, server_hostname="localhost"),
        credentials=credentials or pika.PlainCredentials("guest", "guest"),
        connection_attempts=1,
        socket_timeout=5,
        stack_timeout=10,
    )
    return p


def round_trip(conn, body):
    ch = conn.channel()
    q = ch.queue_declare(queue="", exclusive=True).method.queue
    ch.basic_publish(exchange="", routing_key=q, body=body)
    for _ in range(100):
        method, _props, got = ch.basic_get(queue=q, auto_ack=True)
        if method is not None:
            return got
        conn.sleep(0.05)
    return None


def check(name, fn):
    try:
        why = fn()
    except Exception as e:  # noqa: BLE001 - report anything as a failure line
        why = f"{type(e).__name__}: {e}"
    print(f"ok {name}" if why is None else f"FAIL {name}: {why}", flush=True)
    return why is None


def main(host, port, ca, cert, key, other_ca):
    signal.signal(signal.SIGALRM, on_watchdog)
    signal.alarm(WATCHDOG_S)
    port = int(port)

    def external_login():
        conn = pika.BlockingConnection(params(host, port, ca, cert, key, pika.credentials.ExternalCredentials()))
        got = round_trip(conn, b"pika over tls")
        conn.close()
        return None if got == b"pika over tls" else f"round trip returned {got!r}"

    def plain_over_tls():
        conn = pika.BlockingConnection(params(host, port, ca))
        got = round_trip(conn, b"plain")
        conn.close()
        return None if got == b"plain" else f"round trip returned {got!r}"

    def wrong_ca():
        try:
            conn = pika.BlockingConnection(params(host, port, other_ca, cert, key, pika.credentials.ExternalCredentials()))
        except (pika.exceptions.AMQPConnectionError, ssl.SSLError) as e:
            text = repr(e)
            return None if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text else f"refused, but not by TLS: {text}"
        conn.close()
        return "connected although the server certificate is from an untrusted CA"

    results = [
        check("external-login", external_login),
        check("plain-over-tls", plain_over_tls),
        check("wrong-ca-refused", wrong_ca),
    ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:7]))

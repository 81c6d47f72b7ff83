"""The Celery app of the drop-in checklist (celery_checklist.py), shared by the script (the
client) and the worker it starts (`python3 -m celery -A celery_app worker`).

Configured from the environment, so both sides agree on names:
  DROPIN_URL        broker URL
  DROPIN_PREFIX     per-run name prefix (dropin.celery.<run>)
  DROPIN_HEARTBEAT  AMQP heartbeat in seconds (the worker asks for 1; the client for none,
                    since only a worker's event loop sends heartbeats)

Tasks go to the topic exchange <p>.tasks with routing key job.<task>; the worker's queue
<p>.work is bound with job.*, dead-letters to <p>.dlx/dead, and is consumed with late acks and
prefetch 1; results come back over AMQP through the rpc:// backend.
"""
import hashlib
import os
import time

from celery import Celery
from celery.exceptions import Reject
from kombu import Exchange, Queue

URL = os.environ["DROPIN_URL"]
PREFIX = os.environ["DROPIN_PREFIX"]

tasks_exchange = Exchange(f"{PREFIX}.tasks", type="topic", durable=False)
dlx = Exchange(f"{PREFIX}.dlx", type="direct", durable=False)
WORK_ARGS = {
    "x-dead-letter-exchange": dlx.name,
    "x-dead-letter-routing-key": "dead",
    "x-message-ttl": 600000,
    "x-expires": 600000,
}
work_queue = Queue(f"{PREFIX}.work", tasks_exchange, routing_key="job.*", durable=False, queue_arguments=WORK_ARGS)
dead_queue = Queue(f"{PREFIX}.dlq", dlx, routing_key="dead", durable=False, queue_arguments={"x-expires": 600000})


def route(name, _args, _kwargs, _options, task=None, **_kw):
    return {"queue": work_queue, "routing_key": "job." + name.rsplit(".", 1)[-1]}


app = Celery("celery_app", broker=URL, backend="rpc://")
app.conf.update(
    broker_heartbeat=float(os.environ.get("DROPIN_HEARTBEAT", "0")),
    broker_connection_timeout=5,
    broker_connection_max_retries=3,
    broker_transport_options={"confirm_publish": True},
    task_queues=[work_queue],
    task_default_queue=work_queue.name,
    task_routes=(route,),
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    worker_enable_remote_control=False,  # no pidbox exchanges left on the broker
    worker_send_task_events=False,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=600,
)


@app.task
def add(x, y):
    return x + y


@app.task(bind=True)
def where(self):
    """How the task message reached the worker."""
    info = self.request.delivery_info
    return {"exchange": info.get("exchange"), "routing_key": info.get("routing_key")}


@app.task(bind=True, max_retries=3)
def flaky(self):
    """Fails twice, retried by the broker (self.retry republishes the task with an ETA)."""
    if self.request.retries < 2:
        raise self.retry(countdown=0.2)
    return self.request.retries


@app.task(bind=True)
def requeue_once(self):
    """Rejected with requeue the first time (basic.reject requeue=true); reports the flag after."""
    if not self.request.delivery_info.get("redelivered"):
        raise Reject("first delivery", requeue=True)
    return "redelivered"


@app.task
def dead():
    """Rejected without requeue: dead-lettered to <p>.dlx."""
    raise Reject("to the dead-letter exchange", requeue=False)


@app.task
def hold(started_path, release_path):
    """Runs until release_path exists (at most 15 s), so the script can look at the queue."""
    with open(started_path, "w") as f:
        f.write("started")
    deadline = time.monotonic() + 15
    while not os.path.exists(release_path) and time.monotonic() < deadline:
        time.sleep(0.02)
    return os.path.exists(release_path)


@app.task
def echo(data):
    """A large message both ways: the argument in, the same string back."""
    return {"sha256": hashlib.sha256(data.encode()).hexdigest(), "data": data}

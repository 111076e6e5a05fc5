"""Gunicorn settings shared by every service (workers and threads from the environment)."""

from __future__ import annotations

import os
import shutil
import signal
import sys
from typing import Any

bind = os.environ.get("BIND", f"0.0.0.0:{os.environ.get('PORT', '8080')}")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
# Above the ALB's idle timeout (60 s, k8s/base/kustomization.yaml): the proxy must close an idle
# connection before gunicorn does, or it may reuse one gunicorn just closed and answer 502.
keepalive = 75
accesslog = None  # the app logs each request as JSON itself
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = os.environ.get("SERVICE_NAME", "salesync")
# No runtime control socket: nothing uses it and containers run with a read-only root fs.
control_socket_disable = True

# A request thread woken by its database or sibling answer waits for the GIL while another thread
# (a Kafka client's, the outbox relay handling a batch) runs Python: at most this long (default
# 5 ms), set before the workers fork. 1 ms trims the latency tail at a small switching cost.
sys.setswitchinterval(float(os.environ.get("PYTHON_SWITCH_INTERVAL_MS", "1")) / 1000)


def on_starting(server: Any) -> None:
    # Stale multiprocess metric files from a previous run would be summed in: start clean.
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker: Any) -> None:
    """On SIGTERM, tell the app's background work (and its open streams) to stop first.

    Without it a worker with long-lived responses (the order stream) would wait the whole
    ``graceful_timeout`` for requests that never end; clients resume by their last event id.
    """
    graceful_exit = worker.handle_exit

    def handle_exit(signum: int, frame: Any) -> None:
        extensions = getattr(worker.wsgi, "extensions", {})
        service_runtime = extensions.get("salesync")
        if service_runtime is not None:
            service_runtime.stop.set()
        graceful_exit(signum, frame)

    signal.signal(signal.SIGTERM, handle_exit)

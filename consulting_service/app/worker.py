"""Background work: a bounded pool that turns pending requests into results + outbox events.

A request is claimed with a lease (an atomic ``UPDATE ... WHERE status='pending' AND lease
expired``) so two workers never run it at once, even across processes. The model is called outside
any transaction; the result and its outbox row are then written in ONE transaction and the relay
is woken. A sweep (at startup, then periodically) picks up requests whose lease expired or that
were never claimed: a request pending at crash time is finished after a restart.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from salesync_common.db import rows_matched
from salesync_common.outbox import add_event
from salesync_common.timeutil import utcnow

from ..config import Settings
from .events import result_event
from .llm import Advisor, ModelError
from .models import ConsultingRequest, Outbox

log = logging.getLogger(__name__)


def _finish(
    engine: Engine,
    settings: Settings,
    req_id: str,
    store_id: int,
    *,
    status: str,
    advice: str | None,
    model: str | None,
    error: str | None = None,
) -> bool:
    """Write the outcome and its event in one transaction; False if already finished."""
    event_id = str(uuid.uuid4())
    with Session(engine) as session, session.begin():
        finished = session.execute(
            update(ConsultingRequest)
            .where(ConsultingRequest.req_id == req_id, ConsultingRequest.status == "pending")
            .values(
                status=status,
                advice=advice,
                model=model,
                error=error,
                completed_at=utcnow(),
                lease_until=None,
            )
        )
        if rows_matched(finished) != 1:
            return False
        add_event(
            session,
            Outbox,
            topic=settings.consulting_results_topic,
            key=req_id,
            event_id=event_id,
            payload=result_event(
                event_id=event_id,
                req_id=req_id,
                store_id=store_id,
                status=status,
                advice=advice,
                model=model,
            ),
        )
    return True


def process_request(
    engine: Engine,
    settings: Settings,
    advisor: Advisor,
    req_id: str,
    wake: Callable[[], None] = lambda: None,
) -> str | None:
    """Run one request if it can be claimed; returns the final status or None (not claimed)."""
    now = utcnow()
    with engine.begin() as conn:
        claimed = conn.execute(
            update(ConsultingRequest)
            .where(
                ConsultingRequest.req_id == req_id,
                ConsultingRequest.status == "pending",
                or_(ConsultingRequest.lease_until.is_(None), ConsultingRequest.lease_until < now),
            )
            .values(
                attempts=ConsultingRequest.attempts + 1,
                lease_until=now + timedelta(seconds=settings.lease_seconds),
            )
            .returning(
                ConsultingRequest.store_id, ConsultingRequest.figures, ConsultingRequest.attempts
            )
        ).first()
    if claimed is None:
        return None
    store_id, figures_json, attempts = claimed
    if attempts > settings.max_attempts:
        status, advice, model, error = "failed", None, None, "too many attempts"
    else:
        try:
            advice, model = advisor.advise(json.loads(figures_json))
            status, error = "succeeded", None
        except ModelError as exc:
            status, advice, model, error = "failed", None, advisor.model_name, str(exc)[:500]
    if _finish(
        engine, settings, req_id, store_id, status=status, advice=advice, model=model, error=error
    ):
        log.info("consulting request %s", status)
        wake()
        return status
    return None


class Worker:
    """The process's pool (``worker_threads`` threads) and its recovery sweep."""

    def __init__(
        self, engine: Engine, settings: Settings, advisor: Advisor, wake: Callable[[], None]
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._advisor = advisor
        self._wake = wake
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, settings.worker_threads), thread_name_prefix="consulting-worker"
        )
        self._queued: set[str] = set()
        self._lock = threading.Lock()

    def submit(self, req_id: str) -> None:
        with self._lock:
            if req_id in self._queued:
                return
            self._queued.add(req_id)
        self._pool.submit(self._run, req_id)

    def _run(self, req_id: str) -> None:
        try:
            process_request(self._engine, self._settings, self._advisor, req_id, self._wake)
        except Exception:  # the row stays pending; the sweep retries it after the lease
            log.exception("consulting request failed unexpectedly; will be retried")
        finally:
            with self._lock:
                self._queued.discard(req_id)

    def sweep(self, grace_seconds: float) -> int:
        """Queue pending requests nobody holds (never claimed, or lease expired)."""
        now = utcnow()
        with self._engine.connect() as conn:
            req_ids = conn.scalars(
                select(ConsultingRequest.req_id)
                .where(
                    ConsultingRequest.status == "pending",
                    ConsultingRequest.created_at <= now - timedelta(seconds=grace_seconds),
                    or_(
                        ConsultingRequest.lease_until.is_(None),
                        ConsultingRequest.lease_until < now,
                    ),
                )
                .order_by(ConsultingRequest.created_at)
                .limit(100)
            ).all()
        for req_id in req_ids:
            self.submit(req_id)
        return len(req_ids)

    def run_sweeper(self, stop: threading.Event) -> None:
        grace = 0.0  # at startup every unheld pending request is an orphan of a previous run
        while not stop.is_set():
            try:
                found = self.sweep(grace)
                if found:
                    log.info("recovery sweep queued %d pending consulting requests", found)
            except Exception:
                log.warning("recovery sweep failed; will retry", exc_info=True)
            grace = self._settings.sweep_interval_seconds
            stop.wait(self._settings.sweep_interval_seconds)
        self._pool.shutdown(wait=False, cancel_futures=True)

"""``Idempotency-Key``: a retry with the same key returns the first answer.

Keyed by (store, key). The first request claims the key (INSERT .. ON CONFLICT DO NOTHING, so two
concurrent requests cannot both claim it), runs, and stores its answer; a replay gets that answer
with ``Idempotent-Replayed: true``. The same key with a different request is 422; a key whose
first request is still running is 409. Server errors release the key so a retry can run again,
and a claim left by a crashed process expires after a short lease.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Response, jsonify, make_response, request
from sqlalchemy import Table, and_, delete, select, update
from sqlalchemy.engine import Engine

from salesync_common.auth import current_store_id
from salesync_common.db import upsert_insert
from salesync_common.errors import ApiError
from salesync_common.timeutil import aware, utcnow

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
RETENTION = timedelta(hours=24)
LEASE = timedelta(seconds=30)


def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(request.path.encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


class IdempotencyStore:
    def __init__(self, engine_getter: Callable[[], Engine], table: Table) -> None:
        self._engine = engine_getter
        self._table = table

    def run(self, handler: Callable[[], Any]) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return make_response(handler())
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise ApiError(
                "Idempotency-Key는 1~200자의 문자열이어야 합니다.",
                status=422,
                code="invalid_idempotency_key",
            )
        store_id = current_store_id()
        fingerprint = _fingerprint()
        replay = self._claim(store_id, key, fingerprint)
        if replay is not None:
            return replay
        try:
            response = make_response(handler())
        except ApiError as error:
            if error.status >= 500:
                self._release(store_id, key)
                raise
            response = jsonify(error.body())
            response.status_code = error.status
        except BaseException:
            self._release(store_id, key)
            raise
        if response.status_code >= 500:
            self._release(store_id, key)
        else:
            self._complete(store_id, key, response)
        return response

    def _claim(self, store_id: int, key: str, fingerprint: str) -> Response | None:
        table, engine, now = self._table, self._engine(), utcnow()
        identity = and_(table.c.store_id == store_id, table.c.key == key)
        for _ in range(3):
            with engine.begin() as conn:
                inserted = conn.execute(
                    upsert_insert(engine)(table)
                    .values(
                        store_id=store_id,
                        key=key,
                        fingerprint=fingerprint,
                        status="in_progress",
                        created_at=now,
                        locked_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["store_id", "key"])
                )
                if inserted.rowcount == 1:
                    if random.random() < 0.01:  # noqa: S311 - opportunistic cleanup, not security
                        conn.execute(delete(table).where(table.c.created_at < now - RETENTION))
                    return None
                row = conn.execute(select(table).where(identity)).one_or_none()
                if row is None:
                    continue  # released between our insert and select: try again
                created_at = aware(row.created_at)
                if created_at < now - RETENTION:
                    conn.execute(delete(table).where(identity))
                    continue
                if row.fingerprint != fingerprint:
                    raise ApiError(
                        "같은 Idempotency-Key가 다른 요청에 사용되었습니다.",
                        status=422,
                        code="idempotency_key_reused",
                    )
                if row.status == "completed":
                    response = Response(
                        row.response_body, status=row.response_status, mimetype="application/json"
                    )
                    response.headers["Idempotent-Replayed"] = "true"
                    return response
                if aware(row.locked_at) > now - LEASE:
                    raise ApiError(
                        "같은 요청을 처리하고 있습니다. 잠시 후 다시 시도하세요.",
                        status=409,
                        code="idempotency_in_progress",
                    )
                taken = conn.execute(
                    update(table)
                    .where(identity, table.c.locked_at == row.locked_at)
                    .values(locked_at=now)
                )
                if taken.rowcount == 1:
                    return None
        raise ApiError(status=409, code="idempotency_in_progress")

    def _complete(self, store_id: int, key: str, response: Response) -> None:
        table = self._table
        body = response.get_data(as_text=True)
        try:
            json.loads(body)
        except ValueError:
            body = json.dumps({"result": "failed", "message": body})
        with self._engine().begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.store_id == store_id, table.c.key == key)
                .values(
                    status="completed", response_status=response.status_code, response_body=body
                )
            )

    def _release(self, store_id: int, key: str) -> None:
        table = self._table
        with self._engine().begin() as conn:
            conn.execute(delete(table).where(table.c.store_id == store_id, table.c.key == key))

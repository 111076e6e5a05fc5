"""Database per service: PostgreSQL in the service's own schema, or a SQLite file when embedded.

Models carry no schema name: the connection's ``search_path`` puts them in the service's schema,
so the same models and migrations run on PostgreSQL and on the embedded SQLite files.

Use-cases take a plain ``Session``; views pass them ``db.session()``, the request's session
behind Flask-SQLAlchemy's scoped proxy (the same object the proxy would reach).
"""

from __future__ import annotations

import functools
import logging
import re
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, CursorResult, Engine, Result
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.pool import Pool
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler

from salesync_common.settings import ServiceSettings

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_db() -> SQLAlchemy:
    """A Flask-SQLAlchemy handle with its own metadata (one per service)."""

    class Base(DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING_CONVENTION)

    return SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


def quote_schema(schema: str) -> str:
    return '"' + schema.replace('"', '""') + '"'


def database_url(settings: ServiceSettings, name: str) -> str:
    if settings.database_url:
        url = settings.database_url
        # SQLAlchemy 2.1 defaults postgresql:// to psycopg 3; the project ships psycopg2.
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg2://" + url[len(prefix) :]
        return url
    directory = Path(settings.sqlite_dir)
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / name}.db"


def engine_options(settings: ServiceSettings, url: str, schema: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 15, "check_same_thread": False}}
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        # No ping before every checkout (a round trip per transaction on the hot path): a
        # connection found dead is invalidated with the whole pool, and that request answers
        # 503 ``database_unavailable`` (errors.py); connections are renewed every 5 minutes.
        "pool_pre_ping": False,
        "pool_recycle": 300,
        # several rows updated at once (a payment freezing each line's cost and discount) go in
        # one round trip (psycopg2 execute_batch), not one per row
        "executemany_mode": "values_plus_batch",
        "connect_args": {
            # short OLTP statements: a JIT compile would cost more than it saves
            "options": (
                f"-c search_path={quote_schema(schema)} -c statement_timeout=15000 -c jit=off"
            ),
            "connect_timeout": 5,
            "application_name": settings.service_name,
        },
    }


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()


def init_db(app: Flask, db: SQLAlchemy, settings: ServiceSettings, schema: str) -> None:
    url = database_url(settings, schema)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(settings, url, schema)
    db.init_app(app)


def violates_unique(exc: IntegrityError, index: str, sqlite_columns: str) -> bool:
    """Did this write break that unique index? PostgreSQL names it; SQLite lists its columns."""
    diag = getattr(exc.orig, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None):
        return diag.constraint_name == index
    return sqlite_columns in str(exc.orig)


def rows_matched(result: Result[*tuple[Any, ...]]) -> int:
    """Rows an INSERT, UPDATE or DELETE matched.

    ``Session.execute`` types every result as a plain ``Result``; a DML statement's result is a
    ``CursorResult``, the one that carries the count.
    """
    if not isinstance(result, CursorResult):
        raise TypeError(f"no row count on a {type(result).__name__}")
    return result.rowcount


def reads_without_transaction(session: Session) -> None:
    """Run this session's statements without a transaction (autocommit): a read-only request
    then costs its statements' round trips and no BEGIN or ROLLBACK.

    Each statement reads the latest committed rows, so use it where one statement answers, or
    where the reads need not agree. A session already in a transaction stays in it.

    On PostgreSQL the driver's own autocommit switch is flipped (client side, no round trip) and
    flipped back when the connection returns to the pool (``_leave_autocommit``). SQLAlchemy's
    ``isolation_level="AUTOCOMMIT"`` would do the same but reset the isolation level on return
    with a ``SET default_transaction_isolation`` round trip per request.
    """
    if session.in_transaction():
        return
    if session.get_bind().dialect.name != "postgresql":
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        return
    pooled = session.connection().connection
    if pooled.dbapi_connection is not None:  # nothing sent yet: no transaction begun
        pooled.dbapi_connection.autocommit = True
        pooled.info[_READ_IN_AUTOCOMMIT] = True


_READ_IN_AUTOCOMMIT = "salesync.read_in_autocommit"


@event.listens_for(Pool, "checkin")
def _leave_autocommit(dbapi_connection: Any, record: Any) -> None:
    """A connection ``reads_without_transaction`` left in autocommit goes back transactional
    (only those: an engine created in autocommit keeps its connections so)."""
    if record.info.pop(_READ_IN_AUTOCOMMIT, False) and dbapi_connection is not None:
        dbapi_connection.autocommit = False


class WriteBatch:
    """A transaction's writes whose results are not needed, sent to PostgreSQL in one round trip.

    Each statement is prepared on the connection the first time (as ``prepared`` ones are).

    ``add`` queues a statement and its parameters; ``send`` sends every queued statement as one
    multi-statement query. The server runs them in order, in the caller's transaction, each with
    its own snapshot (the statement after an INSERT sees its row), and the first error aborts
    the rest and raises as ``session.execute`` would (e.g. ``IntegrityError``). Parameters are
    interpolated client side by psycopg2, as it does for every statement (``mogrify``); the
    rows of the last statement are ``send``'s result.

    Elsewhere (SQLite, ``make run``) ``add`` runs the statement at once: the same writes, one
    round trip each. Nothing may read what a queued statement writes before ``send``.
    """

    def __init__(self, session: Session, *, alone: bool = False) -> None:
        """``alone``: these writes are the whole transaction. On PostgreSQL, when the session has
        not begun one, the connection is put in autocommit and ``send`` is one message that
        PostgreSQL runs as a single implicit transaction (all of it or none): no BEGIN or COMMIT
        round trip. ``send`` is then called once; the session is transactional after it."""
        self._session = session
        self._batched = session.get_bind().dialect.name == "postgresql"
        self._queued: list[bytes] = []
        self._last: Result[Any] | None = None
        self._alone = False
        if self._batched and alone and not session.in_transaction():
            reads_without_transaction(session)
            self._alone = True

    @property
    def batched(self) -> bool:
        """Are statements queued until ``send`` (PostgreSQL), or run when added?"""
        return self._batched

    def add(self, statement: Executable, params: Mapping[str, Any]) -> None:
        if not self._batched:
            self._last = self._session.execute(statement, params)
            return
        connection = self._session.connection()
        compiled = _compiled(connection.dialect, statement, tuple(sorted(params)))
        values = compiled.construct_params(params)
        # the Python-side defaults Core fills in at execution (e.g. ``default=0``)
        for column in compiled.insert_prefetch:
            values[column.key] = _scalar_default(column, column.default)
        for column in compiled.update_prefetch:
            values[column.key] = _scalar_default(column, column.onupdate)
        for name, process in compiled._bind_processors.items():  # as Core applies them
            if name in values and callable(process):
                values[name] = process(values[name])
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        form = _prepared_form(connection.connection, cursor, compiled.string)
        self._queued.append(cursor.mogrify(form or compiled.string, values))

    def send(self) -> Result[Any] | None:
        """Send what is queued; the result of the last statement added since the last ``send``
        (None when none was: then nothing is sent)."""
        if not self._batched:
            last, self._last = self._last, None
            return last
        if not self._queued:
            return None
        query = b";\n".join(self._queued).decode()
        self._queued.clear()
        connection = self._session.connection()
        # no parameters: psycopg2 must not read the interpolated values' % signs again
        result = connection.exec_driver_sql(query, execution_options={"no_parameters": True})
        if self._alone:  # committed by PostgreSQL: what follows is transactional again
            self._alone = False
            pooled = connection.connection
            if pooled.dbapi_connection is not None and pooled.info.pop(_READ_IN_AUTOCOMMIT, False):
                pooled.dbapi_connection.autocommit = False
        return result


def _scalar_default(column: Any, default: Any) -> Any:
    """A column's Python-side scalar default (``default=0``); a callable one is not supported."""
    if default is None or not default.is_scalar:
        raise ValueError(f"a WriteBatch cannot compute the default of {column}")
    return default.arg


@functools.lru_cache(maxsize=256)
def _compiled(dialect: Any, statement: Executable, keys: tuple[str, ...]) -> SQLCompiler:
    """``statement`` compiled as ``Session.execute`` compiles it for these parameter names."""
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
    if not isinstance(compiled, SQLCompiler):
        raise TypeError(f"not a SQL statement: {statement!r}")
    if "POSTCOMPILE" in compiled.string:  # expanding IN lists are rendered at execution time
        raise ValueError("a WriteBatch statement cannot expand parameters")
    return compiled


E = TypeVar("E", bound=Executable)
PREPARED = "salesync_prepared"
_PREPARED_FORMS = "salesync.prepared_forms"
_PREPARED_SOURCES = "salesync.prepared_sources"
MAX_PREPARED_PER_CONNECTION = 200
_PLACEHOLDER = re.compile(r"%%|%\(([^)]+)\)s")  # psycopg2's: an escaped % or a named value


def prepared(statement: E) -> E:
    """``statement``, run on PostgreSQL as a server-side prepared statement: parsed once per
    connection and, once PostgreSQL settles on a generic plan (after 5 runs, when no costlier
    than the custom ones), not planned again. For the hot path's statements, whose parameters
    are typed by their columns or casts (a bare ``SELECT :x`` would be typed ``text``).

    The values are still interpolated by psycopg2 (``EXECUTE name(values)``), so the driver,
    errors, row counts and results are those of a plain statement. Not for a pooler that moves
    sessions between server connections (PgBouncer in transaction mode): we connect directly.
    """
    return statement.execution_options(**{PREPARED: True})


@event.listens_for(Engine, "before_cursor_execute", retval=True)
def _run_prepared(
    conn: Connection,
    cursor: Any,
    statement: str,
    parameters: Any,
    context: Any,
    executemany: bool,
) -> tuple[str, Any]:
    if (
        executemany
        or context is None
        or not context.execution_options.get(PREPARED)
        or conn.dialect.name != "postgresql"
        or not isinstance(parameters, dict)
    ):
        return statement, parameters
    form = _prepared_form(conn.connection, cursor, statement)
    return (form or statement), parameters


def _prepared_form(pooled: Any, cursor: Any, statement: str) -> str | None:
    """``EXECUTE name(%(value)s, ...)`` for ``statement`` on this connection, preparing it the
    first time; None when it cannot be prepared (run as it is) or the connection has its fill."""
    forms: dict[str, str | None] = pooled.info.setdefault(_PREPARED_FORMS, {})
    if statement not in forms:
        if len(forms) >= MAX_PREPARED_PER_CONNECTION:
            return None
        name = f"salesync_{len(forms) + 1}"
        forms[statement] = _prepare(cursor, name, statement)
        pooled.info.setdefault(_PREPARED_SOURCES, {})[name] = statement
    return forms[statement]


_EXECUTE = re.compile(r"EXECUTE (salesync_\d+)(?:\(.*?\))?(?=;\n|$)", re.DOTALL)


def prepared_source(conn: Connection, sent: str) -> str:
    """``sent`` with each ``EXECUTE salesync_N(...)`` replaced by the statement it runs (with
    its placeholders): what tests and diagnostics read."""
    sources: dict[str, str] = conn.connection.info.get(_PREPARED_SOURCES, {})
    return _EXECUTE.sub(lambda match: sources.get(match.group(1), match.group(0)), sent)


def _prepare(cursor: Any, name: str, statement: str) -> str | None:
    import psycopg2  # PostgreSQL only (the ``postgres`` extra)

    names: list[str] = []

    def positional(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return "%"  # the PREPARE is sent without values: psycopg2 unescapes nothing
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    prepare = f"PREPARE {name} AS {_PLACEHOLDER.sub(positional, statement)}"
    # in a transaction, a refused PREPARE must not abort it: a savepoint around it
    guarded = not cursor.connection.autocommit
    try:
        if guarded:
            cursor.execute(
                f"SAVEPOINT salesync_prepare; {prepare}; RELEASE SAVEPOINT salesync_prepare"
            )
        else:
            cursor.execute(prepare)
    except psycopg2.Error as exc:
        if guarded:
            cursor.execute("ROLLBACK TO SAVEPOINT salesync_prepare")
            cursor.execute("RELEASE SAVEPOINT salesync_prepare")
        log.warning("statement not prepared, run as it is: %s", exc.pgerror or exc)
        return None
    values = ", ".join(f"%({value})s" for value in names)
    return f"EXECUTE {name}({values})" if names else f"EXECUTE {name}"


def upsert_insert(bind: Session | Connection | Engine) -> Callable[..., Any]:
    """The ``insert`` of ``bind``'s dialect, the one that has ``on_conflict_do_update/nothing``.

    PostgreSQL in the stack and production, SQLite in ``make run``: both build the same
    ``INSERT ... ON CONFLICT`` statement, so every upsert is written once for the two.
    """
    target = bind.get_bind() if isinstance(bind, Session) else bind
    return pg_insert if target.dialect.name == "postgresql" else sqlite_insert

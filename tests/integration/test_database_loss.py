"""A pooled connection that PostgreSQL closed (restart, failover) costs one clean 503, not a 500.

The pool does not ping before each checkout (a round trip per transaction on the hot path), so
the first request on a dead connection fails: it must answer 503 ``database_unavailable`` with
``Retry-After``, change nothing, and the next request must work on fresh connections.
"""

from __future__ import annotations

import sqlalchemy as sa

from devstack.testing import auth_headers, token_for


def _kill_service_connections(admin_url: str, application_name: str) -> int:
    url = admin_url.replace("postgresql://", "postgresql+psycopg2://", 1)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        killed = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name AND pid <> pg_backend_pid()"
            ),
            {"name": application_name},
        ).scalar_one()
    engine.dispose()
    return int(killed)


def test_a_connection_closed_by_postgres_answers_503_then_recovers(pg, service_app) -> None:
    app = service_app("item_service", service_name="item-dbloss")
    client = app.test_client()
    headers = auth_headers(token_for(4242))
    assert client.post("/categories/", json={"name": "음료"}, headers=headers).status_code == 201
    assert _kill_service_connections(pg.admin_url(), "item-dbloss") >= 1

    lost = client.post("/categories/", json={"name": "디저트"}, headers=headers)
    assert lost.status_code == 503, lost.get_json()
    assert lost.get_json()["error"]["code"] == "database_unavailable"
    assert lost.headers["Retry-After"] == "1"

    listed = client.get("/categories/", headers=headers)
    assert listed.status_code == 200
    assert [c["name"] for c in listed.get_json()["categories"]] == ["음료"]
    again = client.post("/categories/", json={"name": "디저트"}, headers=headers)
    assert again.status_code == 201

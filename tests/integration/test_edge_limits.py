"""Rate limits against real servers: through nginx (the stack's ingress, rendered from the route
table), behind one and two trusted proxy hops, and across two gunicorn worker processes sharing
the real Redis.

- One client sending 40 logins with 40 usernames and 40 different spoofed ``X-Forwarded-For``
  values through nginx is limited after the configured count: the services count the address nginx
  appended, never what the client wrote.
- Deployed behind two hops (a second nginx in front, as a load balancer would be), the client is
  still the one the outer hop saw: spoofing does not help, and another client is not confused with
  it (clients connect from different loopback addresses).
- Two gunicorn workers on Redis: the login limit holds for the whole service, not per process.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

from devstack.nginx import Ingress
from devstack.testing import PgDatabase, free_port, gunicorn_service
from salesync_common.routing import UPSTREAMS

LOGIN_LIMIT = 10  # per client IP per minute, in every test here
ATTEMPTS = 40


class FromAddress(HTTPAdapter):
    """Connect from a chosen loopback address, as a distinct client machine would."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client_from(address: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", FromAddress(address))
    return session


def spoofed_logins(session: requests.Session, base_url: str, tag: str) -> list[int]:
    """40 logins, 40 usernames, 40 different X-Forwarded-For values written by the client."""
    return [
        session.post(
            f"{base_url}/stores/login",
            json={"username": f"{tag}-user-{i}", "password": "guessed-password"},
            headers={"X-Forwarded-For": f"203.0.113.{i}, 198.51.100.{i}"},
            timeout=10,
        ).status_code
        for i in range(ATTEMPTS)
    ]


def ingress(run_dir: Path, upstreams: dict[str, str]) -> Ingress:
    return Ingress(run_dir=run_dir, port=free_port(), upstreams=upstreams).start()


@pytest.fixture()
def served_store(service_app, serve):
    def start(hops: int) -> str:
        app = service_app(
            "store_service",
            trusted_proxy_hops=hops,
            login_rate_limit_ip=f"{LOGIN_LIMIT}/minute",
            login_rate_limit_username="1000/minute",
        )
        return f"127.0.0.1:{serve(app).port}"

    return start


@pytest.fixture()
def ingresses(tmp_path: Path) -> Iterator[list[Ingress]]:
    started: list[Ingress] = []
    yield started
    for one in started:
        one.stop()


def _dead() -> str:
    return f"127.0.0.1:{free_port()}"


def test_spoofed_forwarded_for_through_nginx_is_limited(
    served_store, ingresses: list[Ingress], tmp_path: Path
) -> None:
    store = served_store(hops=1)
    edge = ingress(
        tmp_path / "edge", {name: store if name == "store" else _dead() for name in UPSTREAMS}
    )
    ingresses.append(edge)
    statuses = spoofed_logins(client_from("127.0.0.1"), edge.url, "one-hop")
    assert statuses == [400] * LOGIN_LIMIT + [429] * (ATTEMPTS - LOGIN_LIMIT)
    assert edge.count_requests()["store"] == ATTEMPTS  # every login went through nginx


def test_two_trusted_hops_are_not_confused(
    served_store, ingresses: list[Ingress], tmp_path: Path
) -> None:
    store = served_store(hops=2)
    inner = ingress(tmp_path / "inner", {n: store if n == "store" else _dead() for n in UPSTREAMS})
    ingresses.append(inner)
    # The outer hop (a load balancer in production) sends everything to the inner ingress.
    inner_address = f"127.0.0.1:{inner.port}"
    outer = ingress(tmp_path / "outer", dict.fromkeys(UPSTREAMS, inner_address))
    ingresses.append(outer)

    first = spoofed_logins(client_from("127.0.0.2"), outer.url, "two-hops")
    assert first == [400] * LOGIN_LIMIT + [429] * (ATTEMPTS - LOGIN_LIMIT)
    # Another client behind the same two hops has its own count.
    other = spoofed_logins(client_from("127.0.0.3"), outer.url, "two-hops-other")
    assert other[:LOGIN_LIMIT] == [400] * LOGIN_LIMIT and other[LOGIN_LIMIT] == 429


# ---------------------------------------------------------------------------------------------
# Two gunicorn workers, one count (Redis)


def _requests_per_worker(metrics_dir: Path) -> dict[int, Counter[str]]:
    """Login answers per worker process, from the workers' own Prometheus files."""
    from prometheus_client.mmap_dict import MmapedDict

    per_worker: dict[int, Counter[str]] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.removeprefix("counter_"))
        counts: Counter[str] = Counter()
        values = MmapedDict(str(path), read_mode=True)
        try:
            for key, value, _timestamp in values.read_all_values():
                metric, _sample, labels, _help = json.loads(key)
                if metric == "salesync_http_requests" and labels.get("route") == "/stores/login":
                    counts[labels["status"]] += int(value)
        finally:
            values.close()
        if counts:
            per_worker[pid] = counts
    return per_worker


def test_the_login_limit_holds_across_two_worker_processes(
    pg: PgDatabase, redis_url: str, service_app, tmp_path: Path
) -> None:
    service_app("store_service")  # migrates the store schema of the test database
    metrics_dir = tmp_path / "prometheus"
    with gunicorn_service(
        "store_service",
        pg,
        tmp_path,
        GUNICORN_WORKERS="2",
        RATE_LIMIT_STORAGE_URI=redis_url,
        LOGIN_RATE_LIMIT_IP=f"{LOGIN_LIMIT}/minute",
        LOGIN_RATE_LIMIT_USERNAME="1000/minute",
        TRUSTED_PROXY_HOPS="0",
    ) as url:

        def login(i: int) -> int:
            # A new connection each time: either worker may accept it.
            return requests.post(
                f"{url}/stores/login",
                json={"username": f"worker-user-{i}", "password": "guessed-password"},
                headers={"Connection": "close"},
                timeout=10,
            ).status_code

        statuses: Counter[int] = Counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            for round_ in range(10):  # until both workers have answered some of them
                statuses.update(pool.map(login, range(round_ * 16, round_ * 16 + 16)))
                if len(_requests_per_worker(metrics_dir)) == 2:
                    break
        per_worker = _requests_per_worker(metrics_dir)
    assert len(per_worker) == 2, f"both workers should have answered: {per_worker}"
    assert statuses[400] == LOGIN_LIMIT, statuses  # one count for the whole service
    assert statuses[429] == sum(statuses.values()) - LOGIN_LIMIT
    assert sum(c["400"] for c in per_worker.values()) == LOGIN_LIMIT

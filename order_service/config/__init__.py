"""Order service settings (environment variables)."""

from pydantic import Field

from salesync_common.serve import EntryPoint
from salesync_common.settings import ServiceSettings

SCHEMA = "order"
# `app.sh stream`: the live table status in its own process (see README "Live table status").
# One worker, so one tail of order_events per process (scale with replicas); gthread with many
# threads because a stream is a thread parked on a condition: no CPU while idle, ~100 KB of
# resident stack each, and the same blocking psycopg2/SQLAlchemy code as the API (an async
# worker would need monkey-patching the database driver). Streams past the threads queue.
ENTRY_POINTS = {
    "stream": EntryPoint(
        "create_stream_app()",
        {"GUNICORN_WORKERS": "1", "GUNICORN_THREADS": "512"},
    )
}


class Settings(ServiceSettings):
    service_name: str = "order"
    # The read model of the menu, fed by the item service's events.
    menu_items_topic: str = "menu.items"
    menu_items_group: str = "order-menu-items"
    # How old the newest "caught up" confirmation of every menu.items partition may be for the
    # hot path to trust the read model (else it asks the item service). The consumer confirms
    # every 0.25 s, so 1.5 s tolerates a few slow broker round trips without flapping, and it
    # bounds how long a change can go unseen when Kafka fails to about the 1 s visibility target.
    menu_freshness_seconds: float = 1.5
    # The audit trail of orders, relayed from order_events.
    orders_events_topic: str = "orders.events"
    # The live table status (GET /orders/stream): a comment line this often keeps proxies and
    # load balancers (idle timeouts above it) from closing a quiet stream.
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0, le=300)
    # How often the stream process reads new order_events when nothing woke it (one indexed
    # query per tick for every open stream of the process). In make run, commits wake it at once.
    stream_poll_seconds: float = Field(default=0.25, gt=0, le=10)

"""The public contract, route by route: which service answers it, and at which path.

This table is the whole public surface. Anything not listed (``/internal/...`` above all) is 404
at the gateway, whatever the services behind it serve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Limit = Literal["login", "signup", "consulting", "settlement"] | None


@dataclass(frozen=True)
class Route:
    method: str
    rule: str  # Flask rule served by the gateway
    service: str
    upstream: str | None = None  # the service's rule when it differs (the /bff aggregates)
    auth: bool = True
    limit: Limit = None

    @property
    def upstream_rule(self) -> str:
        return self.upstream or self.rule


REQ_ID = "<string(maxlength=64):req_id>"

ROUTES: tuple[Route, ...] = (
    Route("GET", "/stores/check", "store", auth=False),
    Route("POST", "/stores/", "store", auth=False, limit="signup"),
    Route("POST", "/stores/login", "store", auth=False, limit="login"),
    Route("GET", "/stores/", "store"),
    Route("POST", "/stores/pwcheck", "store"),
    Route("PUT", "/stores/<id:store_id>", "store"),
    Route("GET", "/categories/", "item"),
    Route("POST", "/categories/", "item"),
    Route("PUT", "/categories/<id:category_id>", "item"),
    Route("DELETE", "/categories/<id:category_id>", "item"),
    Route("GET", "/categories/items", "item"),
    Route("POST", "/categories/<id:category_id>/items", "item"),
    Route("PUT", "/categories/items/<id:item_id>", "item"),
    Route("DELETE", "/categories/items/<id:item_id>", "item"),
    Route("GET", "/orders/unpaids", "order"),
    Route("GET", "/orders/unpaids/<id:table_no>", "order"),
    Route("POST", "/orders/", "order"),
    Route("PUT", "/orders/", "order"),
    Route("DELETE", "/orders/<id:table_no>", "order"),
    Route("GET", "/sales/", "sale"),
    Route("POST", "/sales/", "sale"),
    Route("DELETE", "/sales/<id:sale_id>", "sale"),
    Route("GET", "/bff/sales", "dashboard", upstream="/dashboard/sales"),
    Route("GET", "/bff/volumes", "dashboard", upstream="/dashboard/volumes"),
    Route("GET", "/bff/costs", "dashboard", upstream="/dashboard/costs"),
    Route("POST", "/bff/costs", "dashboard", upstream="/dashboard/costs"),
    Route("GET", "/dashboard/sales", "dashboard"),
    Route("GET", "/dashboard/volumes", "dashboard"),
    Route("GET", "/dashboard/calculate", "dashboard", limit="settlement"),
    Route("GET", f"/dashboard/consulting/{REQ_ID}", "dashboard"),
    Route("GET", f"/dashboard/consulting/test/{REQ_ID}", "dashboard"),
    Route("GET", "/consulting/", "consulting", limit="consulting"),
    Route("POST", "/consulting/", "consulting", limit="consulting"),
    Route("GET", "/consulting/test", "consulting", limit="consulting"),
    Route("GET", f"/consulting/{REQ_ID}", "consulting"),
    Route("GET", f"/consulting/test/{REQ_ID}", "consulting"),
)

"""A stand-in for the internal endpoints of store, item, order and sale (docs/internal-api.md).

Serves canned bodies per store and records every call, so tests can check what the dashboard
asked for (one call per data owner, the service credential) without the other services.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Flask, jsonify, request


@dataclass
class FakeUpstream:
    stores: dict[int, dict[str, Any]] = field(default_factory=dict)
    item_sales: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    histories: dict[int, dict[int, list[dict[str, Any]]]] = field(default_factory=dict)
    daily: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    costs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    by_payment_type: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    # the sale service's shifts per store and day; a store absent answers 404 (no endpoint)
    shifts: dict[int, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    calls: list[tuple[str, str, dict[str, Any], Any]] = field(default_factory=list)
    fail_costs_with: tuple[int, dict[str, Any]] | None = None

    def calls_to(self, suffix: str) -> list[tuple[str, str, dict[str, Any], Any]]:
        return [call for call in self.calls if call[1].endswith(suffix)]

    def app(self) -> Flask:
        app = Flask("fake-upstream")
        app.json.ensure_ascii = False  # type: ignore[attr-defined]

        @app.before_request
        def _record() -> Any:
            self.calls.append(
                (request.method, request.path, dict(request.args), request.get_json(silent=True))
            )
            if not request.headers.get("X-Service-Token"):
                return jsonify({"result": "failed", "message": "no service token"}), 401
            return None

        @app.get("/internal/stores/<int:sid>")
        def store(sid: int) -> Any:
            if sid not in self.stores:
                return jsonify({"result": "failed", "message": "no store"}), 404
            return jsonify(self.stores[sid])

        @app.get("/internal/stores/<int:sid>/item-sales")
        def item_sales(sid: int) -> Any:
            start, end = request.args["start"], request.args["end"]
            rows = [r for r in self.item_sales.get(sid, []) if start <= r["date"] <= end]
            return jsonify({"rows": rows})

        @app.get("/internal/stores/<int:sid>/cost-history")
        def cost_history(sid: int) -> Any:
            ids = [int(x) for x in request.args["ids"].split(",")]
            known = self.histories.get(sid, {})
            return jsonify(
                {"items": [{"item_id": i, "history": known[i]} for i in ids if i in known]}
            )

        @app.get("/internal/stores/<int:sid>/daily-totals")
        def daily_totals(sid: int) -> Any:
            start, end = request.args["start"], request.args["end"]
            days = [d for d in self.daily.get(sid, []) if start <= d["date"] <= end]
            return jsonify(
                {
                    "days": days,
                    "by_payment_type": self.by_payment_type.get(sid, []),
                    "sales_volume": sum(d["sales_volume"] for d in days),
                    "payments": sum(d["payments"] for d in days),
                }
            )

        @app.get("/internal/stores/<int:sid>/shifts")
        def shifts(sid: int) -> Any:
            if sid not in self.shifts:
                return jsonify({"result": "failed", "message": "not found"}), 404
            return jsonify({"shifts": self.shifts[sid].get(request.args["date"], [])})

        @app.get("/internal/stores/<int:sid>/costs")
        def get_costs(sid: int) -> Any:
            return jsonify({"items": self.costs.get(sid, [])})

        @app.post("/internal/stores/<int:sid>/costs")
        def post_costs(sid: int) -> Any:
            if self.fail_costs_with is not None:
                status, body = self.fail_costs_with
                return jsonify(body), status
            by_id = {
                item["item_id"]: (group, item)
                for group in self.costs.get(sid, [])
                for item in group["items"]
            }
            wanted = request.get_json()["items"]
            if any(entry["item_id"] not in by_id for entry in wanted):
                return jsonify(
                    {"result": "failed", "message": "unknown item", "error": {"code": "not_found"}}
                ), 404
            updated = []
            for entry in wanted:
                group, item = by_id[entry["item_id"]]
                if entry["cost"] is not None:
                    item["cost"] = entry["cost"]
                updated.append({**item, "category_id": group["category_id"]})
            return jsonify({"items": updated})

        return app

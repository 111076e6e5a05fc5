"""Test doubles: the dashboard's internal endpoints and a local OpenAI-compatible server."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flask import Flask, jsonify, request

FIGURES: dict[str, Any] = {
    "start_date": "2026-11-16",
    "end_date": "2026-11-22",
    "sales_volume": 262000,
    "items": [
        {"item_id": 1, "name": "김치찌개", "sales_volume": 144000, "profit": 86400, "quantity": 18},
        {"item_id": 2, "name": "제육볶음", "sales_volume": 90000, "profit": 27000, "quantity": 10},
        {"item_id": 3, "name": "계란말이", "sales_volume": 30000, "profit": -3000, "quantity": 5},
        {"item_id": 4, "name": "공기밥", "sales_volume": 8000, "profit": 8000, "quantity": 8},
    ],
    "days": [
        {"date": f"2026-11-{d}", "sales_volume": v, "profit": v // 3}
        for d, v in zip(range(16, 23), (20000, 0, 30000, 35000, 40000, 70000, 77000), strict=True)
    ],
    "uncosted_items": [4],
}


@dataclass
class FakeDashboard:
    figures: dict[int, dict[str, Any]] = field(default_factory=dict)
    delivered: dict[str, str] = field(default_factory=dict)  # req_id -> status
    calls: list[str] = field(default_factory=list)

    def app(self) -> Flask:
        app = Flask("fake-dashboard")
        app.json.ensure_ascii = False  # type: ignore[attr-defined]

        @app.get("/internal/stores/<int:sid>/sales-report")
        def report(sid: int) -> Any:
            self.calls.append(request.full_path)
            assert request.headers.get("X-Service-Token")
            figures = self.figures.get(sid, {**FIGURES, "items": [], "days": []})
            return jsonify({"result": "success", "message": "매출 조회 성공", **figures})

        @app.get("/internal/stores/<int:sid>/consulting/<req_id>")
        def status(sid: int, req_id: str) -> Any:
            return jsonify({"status": self.delivered.get(req_id)})

        return app


class FakeOpenAI:
    """``POST /v1/chat/completions`` on 127.0.0.1, recording each request body."""

    def __init__(
        self, answer: str = "김치찌개를 대표 메뉴로 홍보하세요.", status: int = 200
    ) -> None:
        self.answer = answer
        self.status = status
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
                )
                if fake.status != 200:
                    payload = {"error": {"message": "boom", "type": "server_error"}}
                else:
                    payload = {
                        "id": "chatcmpl-test",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": fake.answer},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                    }
                raw = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()

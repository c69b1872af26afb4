"""A toy monolith for tests of the regression plugin: a team's own app, not Django.

``python toy_shop.py PORT [BUG]`` serves ``GET /api/items/{id}`` as JSON (``served_at`` changes
on every call: noise) and ``/healthz``. The same script plays the extracted service; ``BUG``
makes it wrong on purpose: ``rename`` answers ``cost`` instead of ``price``, ``reprice`` adds
100 to every price (an intentional change of the monolith, for re-recording).
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ITEMS = {
    "1": {"id": "1", "name": "chair", "price": 1999},
    "2": {"id": "2", "name": "desk", "price": 15000},
}
BUG = sys.argv[2] if len(sys.argv) > 2 else ""


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._send(200, {"status": "ok"})
            return
        key = self.path.removeprefix("/api/items/")
        item = ITEMS.get(key)
        if item is None:
            self._send(404, {"error": f"no item {key}"})
            return
        item = dict(item)
        if BUG == "rename":
            item["cost"] = item.pop("price")
        elif BUG == "reprice":
            item["price"] += 100
        self._send(200, {"item": item, "served_at": time.time()})

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()

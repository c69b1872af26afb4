"""A stand-in for an extracted catalog service that is wrong in one field for some products.

Run as ``python -m tests.support.wrong_catalog --port P --monolith URL``. It answers the
monolith's product API by asking the monolith, then adds one cent to ``unitPrice`` for every
product whose number is a multiple of 4 (SKU-00004, SKU-00008, ...): the kind of rounding bug a
parallel run exists to find.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

import aiohttp
from aiohttp import web

SESSION = web.AppKey("session", aiohttp.ClientSession)
MONOLITH = web.AppKey("monolith", str)


def is_wrong(sku: str) -> bool:
    digits = re.sub(r"\D", "", sku)
    return bool(digits) and int(digits) % 4 == 0


def spoil(product: dict[str, Any]) -> None:
    if is_wrong(str(product.get("sku_item", ""))):
        product["unitPrice"] += 1


async def relay(request: web.Request) -> web.Response:
    async with request.app[SESSION].get(
        request.app[MONOLITH] + request.path_qs, allow_redirects=False
    ) as answer:
        body = await answer.read()
        status = answer.status
    if status == 200:
        data = json.loads(body)
        if isinstance(data.get("product"), dict):
            spoil(data["product"])
        for product in data.get("products", []):
            spoil(product)
        body = json.dumps(data).encode()
    return web.Response(status=status, body=body, content_type="application/json")


def create_app(monolith: str) -> web.Application:
    app = web.Application()
    app[MONOLITH] = monolith.rstrip("/")

    async def session(app: web.Application) -> Any:
        app[SESSION] = aiohttp.ClientSession()
        yield
        await app[SESSION].close()

    app.cleanup_ctx.append(session)
    app.router.add_get("/api/products", relay)
    app.router.add_get("/api/products/{sku}", relay)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--monolith", required=True)
    args = parser.parse_args()
    web.run_app(create_app(args.monolith), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()

"""The real extracted catalog service with one deliberate bug: prices rounded to whole units.

Run as ``python -m tests.support.rounding_catalog --port P`` (database from
``$STRANGLER_CATALOG_DB``, as the service's own entry point). Every ``price.amount`` the service
answers is rounded half up to a whole unit (``96.95`` -> ``97.00``): through the translator a
client sees ``unitPrice`` 9700 instead of 9695, the kind of bug the golden corpus must name.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from aiohttp import web

from extracted.catalog.bootstrap import create_app
from extracted.catalog.settings import CatalogSettings


def round_prices(value: Any) -> Any:
    if isinstance(value, dict):
        price = value.get("price")
        if isinstance(price, dict) and isinstance(price.get("amount"), str):
            whole = Decimal(price["amount"]).quantize(Decimal(1), rounding=ROUND_HALF_UP)
            price["amount"] = f"{whole}.00"
        for child in value.values():
            round_prices(child)
    elif isinstance(value, list):
        for child in value:
            round_prices(child)
    return value


@web.middleware
async def rounding(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    response = await handler(request)
    if request.method == "GET" and isinstance(response, web.Response) and response.body:
        assert isinstance(response.body, bytes)
        data = round_prices(json.loads(response.body))
        response.body = json.dumps(data).encode()
    return response


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = create_app(CatalogSettings.from_env(port=args.port))
    app.middlewares.append(rounding)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()

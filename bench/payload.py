"""The ~2 KB JSON product body the shadow benchmark serves, and its variants for the comparator.

One deterministic document: the legacy stand-in (nginx ``return 200``), the identical candidate
(a second nginx) and the slow candidate (``bench/slow_upstream.py``) all answer these bytes, and
``bench/compare_bench.py`` compares it against re-serialized and edited copies.

The text goes into an nginx ``return`` directive inside single quotes, so it must contain no
``'``, ``\\`` or ``$`` (nginx would read ``$name`` as a variable).
"""

from __future__ import annotations

import copy
import json
from typing import Any

TARGET_SIZE = 2048


def document() -> dict[str, Any]:
    """A product as a catalog service would answer it, padded to about 2 KB once compact."""
    doc: dict[str, Any] = {
        "sku": "SKU-00001",
        "name": "Bench stand-in: stainless steel kettle, 1.7 l",
        "brand": "Strangler Household",
        "price": 4999,
        "currency": "EUR",
        "available": True,
        "stock": 118,
        "rating": 4.6,
        "tags": ["kitchen", "kettle", "steel", "1.7l", "cordless", "bestseller"],
        "categories": [
            {"id": 12, "name": "Kitchen", "path": "/home/kitchen"},
            {"id": 1203, "name": "Kettles", "path": "/home/kitchen/kettles"},
        ],
        "attributes": {
            "capacity_ml": 1700,
            "power_w": 2200,
            "voltage": "220-240 V",
            "colour": "brushed steel",
            "weight_g": 1150,
            "cordless": True,
            "auto_off": True,
            "warranty_months": 24,
        },
        "variants": [
            {"sku": f"SKU-00001-{c}", "colour": c, "price": 4999 + 300 * i, "stock": 20 + 7 * i}
            for i, c in enumerate(("steel", "black", "white", "red", "blue"))
        ],
        "images": [
            {"url": f"https://cdn.example.com/p/SKU-00001/{n}.jpg", "width": 1200, "height": 1200}
            for n in range(1, 5)
        ],
        "updated_at": "2026-11-26T09:30:00Z",
        "description": "",
    }
    filler = (
        "A cordless kettle with a concealed element, limescale filter and a 360 degree base; "
        "boils a full jug in under four minutes and switches off by itself. "
    )
    while len(_compact(doc)) < TARGET_SIZE - len(filler):
        doc["description"] += filler
    doc["description"] += "x" * (TARGET_SIZE - len(_compact(doc)))
    return doc


def _compact(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


BODY: bytes = _compact(document())
"""The compact body every upstream of the shadow benchmark answers (2048 bytes)."""


def reordered() -> bytes:
    """The same values in other bytes: keys sorted, indented (a different JSON serializer)."""
    return json.dumps(document(), sort_keys=True, indent=1).encode()


def one_field_changed() -> bytes:
    doc = document()
    doc["price"] = 5049
    return _compact(doc)


def several_fields_changed() -> bytes:
    """Five differences: two top-level values, a list element, a nested value, a list's length."""
    doc = copy.deepcopy(document())
    doc["price"] = 5049
    doc["stock"] = 117
    doc["tags"][2] = "stainless"
    doc["variants"][3]["stock"] = 0
    doc["images"].pop()
    return _compact(doc)


def _check() -> None:
    text = BODY.decode()
    for forbidden in ("'", "\\", "$"):
        if forbidden in text:
            raise ValueError(f"the bench body must not contain {forbidden!r} (nginx return)")


_check()

"""``python -m legacy_monolith seed``: reset the shop to deterministic demo data."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from legacy_monolith.shop.seeding import seed_shop


class Command(BaseCommand):
    help = (
        "Wipe catalog, customers and orders and rebuild them from --seed (same seed, same"
        " data). Uploaded files and users are kept; demo/demo-password is (re)created."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--products", type=int, default=300)
        parser.add_argument("--customers", type=int, default=100)
        parser.add_argument("--orders", type=int, default=200)
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("products", "customers", "orders"):
            if options[name] < 0:
                raise CommandError(f"--{name} must be >= 0")
        summary = seed_shop(
            products=options["products"],
            customers=options["customers"],
            orders=options["orders"],
            seed=options["seed"],
        )
        self.stdout.write(
            f"seeded {summary.products} products, {summary.customers} customers, "
            f"{summary.orders} orders ({summary.order_lines} lines) with seed {options['seed']}"
        )

"""Django wiring for the legacy monolith's unit tests (pytest-django)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

import pytest

if TYPE_CHECKING:
    from legacy_monolith.catalog.models import Product
    from legacy_monolith.customers.models import Customer


def pytest_configure(config: pytest.Config) -> None:
    # This conftest may load after pytest-django's own startup hook (when the whole suite is
    # collected), so set the settings module and populate the app registry here ourselves.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_monolith.shop.settings")
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()


@pytest.fixture(autouse=True, scope="session")
def _no_unmarked_database_access(django_db_blocker: Any) -> Iterator[None]:
    """Keep tests without ``django_db`` off the real database, whichever way Django was set up."""
    if django_db_blocker is None or django_db_blocker.is_active:
        yield
        return
    with django_db_blocker.block():
        yield


@pytest.fixture(autouse=True)
def _isolated_settings(settings: Any, tmp_path: Path) -> None:
    settings.LEGACY_MEDIA_ROOT = tmp_path / "media"
    # The real hasher is deliberately slow; tests only need passwords to round-trip.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


PARIS = ZoneInfo("Europe/Paris")


class ProductFactory(Protocol):
    def __call__(
        self,
        sku: str = ...,
        *,
        name: str = ...,
        price: int = ...,
        currency: str = ...,
        stock: int = ...,
        reserved: int = ...,
        active: bool = ...,
    ) -> Product: ...


class CustomerFactory(Protocol):
    def __call__(
        self, email: str = ..., *, full_name: str = ..., vip: bool = ..., joined: datetime = ...
    ) -> Customer: ...


@pytest.fixture
def make_product() -> ProductFactory:
    """Defaults are the boring case, so a test only states what matters to it."""

    def make(
        sku: str = "SKU-00001",
        *,
        name: str = "Oak Chair",
        price: int = 1999,
        currency: str = "EUR",
        stock: int = 10,
        reserved: int = 0,
        active: bool = True,
    ) -> Product:
        from legacy_monolith.catalog.models import Product

        return Product.objects.create(
            sku=sku,
            name=name,
            unit_price_cents=price,
            currency=currency,
            stock=stock,
            reserved=reserved,
            active=active,
        )

    return make


@pytest.fixture
def make_customer() -> CustomerFactory:
    def make(
        email: str = "alice@example.com",
        *,
        full_name: str = "Alice Martin",
        vip: bool = False,
        joined: datetime = datetime(2021, 3, 4, 10, 0, tzinfo=PARIS),
    ) -> Customer:
        from legacy_monolith.customers.models import Customer

        return Customer.objects.create(full_name=full_name, email=email, vip=vip, created_at=joined)

    return make

from django.apps import AppConfig


class AccountConfig(AppConfig):
    """HTML side of the shop: home page and cookie-based login (no models of its own)."""

    name = "legacy_monolith.account"
    label = "account"

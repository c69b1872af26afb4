from django.apps import AppConfig


class ShopConfig(AppConfig):
    """Project-level app: owns the seed command and the cross-cutting legacy API plumbing."""

    name = "legacy_monolith.shop"
    label = "shop"
    verbose_name = "Legacy shop"

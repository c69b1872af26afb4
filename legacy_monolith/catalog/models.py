from __future__ import annotations

from django.db import models
from django.utils import timezone


class Product(models.Model):
    sku = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    unit_price_cents = models.IntegerField()
    currency = models.CharField(max_length=3, default="EUR")
    # On hand includes reserved units: they leave the shelf only when the order ships.
    stock = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(unit_price_cents__gte=0), name="product_price_not_negative"
            ),
            # The database is the last line of defence against overselling.
            models.CheckConstraint(
                condition=models.Q(reserved__gte=0, reserved__lte=models.F("stock")),
                name="product_reserved_within_stock",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"

    @property
    def available(self) -> int:
        return self.stock - self.reserved

from __future__ import annotations

from django.db import models
from django.utils import timezone

from legacy_monolith.catalog.models import Product
from legacy_monolith.customers.models import Customer


def format_order_no(number: int) -> str:
    return f"ORD-{number:06d}"


class OrderStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    CONFIRMED = "CONFIRMED", "Confirmed"
    SHIPPED = "SHIPPED", "Shipped"
    CANCELLED = "CANCELLED", "Cancelled"


class Order(models.Model):
    # Derived from the primary key once it is known; long enough for the temporary placeholder.
    order_no = models.CharField(max_length=40, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.PENDING
    )
    created_at = models.DateTimeField(default=timezone.now)
    currency = models.CharField(max_length=3)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.order_no


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines")
    qty = models.PositiveIntegerField()
    # Copied at order time: later catalog price changes must not rewrite history.
    unit_price_cents = models.IntegerField()
    line_total_cents = models.IntegerField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.order_id} x{self.qty} {self.product_id}"

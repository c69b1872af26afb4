from __future__ import annotations

from django.db import models
from django.utils import timezone


class Customer(models.Model):
    full_name = models.CharField(max_length=200)
    email = models.EmailField(unique=True)
    created_at = models.DateTimeField(default=timezone.now, help_text="Date joined")
    vip = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>"

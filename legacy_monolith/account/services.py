"""Account writes: the seeded demo login."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"


def ensure_demo_user() -> AbstractBaseUser:
    """Create the demo user, or reset its password; hashing is slow, so only when needed."""
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(
            username=DEMO_USERNAME, defaults={"first_name": "Demo", "email": "demo@example.com"}
        )
        if created or not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        return user

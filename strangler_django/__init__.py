"""Branch by abstraction for a Django project: the ``strangler`` seam switchboard.

``INSTALLED_APPS += ["strangler_django"]`` and ``STRANGLER_ROUTES = "path/to/routes.yaml"``;
then, where the code can run a new implementation::

    from strangler_django import seam

    prices = seam("pricing").run(
        legacy=lambda: prices_from_tables(skus),
        new=lambda endpoint: prices_from_service(endpoint, skus),  # raises SeamCallFailed
        keys={"customer": str(customer.pk)},  # what `sticky: customer` hashes
    )

Per seam, routes.yaml's ``seams:`` says ``legacy``, ``new`` or ``experiment``, a ``percent``
and a ``sticky`` key; the file is re-read when it changes; experiments are recorded in its
``store:`` as ``seam:<name>``. See ``strangler_django.seams`` and ``docs/seams.md``.
"""

from __future__ import annotations

from strangler_django.errors import NotInService, SeamCallFailed, SeamError, ServiceUnavailable
from strangler_django.seams import Endpoint, Seam, seam

__all__ = [
    "Endpoint",
    "NotInService",
    "Seam",
    "SeamCallFailed",
    "SeamError",
    "ServiceUnavailable",
    "seam",
]

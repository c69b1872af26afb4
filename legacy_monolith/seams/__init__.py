"""The shop's seams: its new implementations, run through ``strangler_django`` as any project's.

A *seam* is one call site with two implementations behind one function: the legacy one (the
monolith's own tables) and a new one (an extracted service, reached through the ACL). Which
runs is decided per call from the ``seams:`` section of routes.yaml:

- ``legacy``: the monolith alone, as before;
- ``new``: the new implementation for ``percent`` of the calls (sticky on ``sticky``'s key);
- ``experiment``: for ``percent`` of the calls both run through ``parallel_run.Experiment``;
  the legacy result is returned and authoritative, the comparison is recorded in the result
  store (``store.url``) as experiment ``seam:<name>``, so ``strangler report`` shows it.

The switchboard (routes.yaml, percent, sticky, experiments, checks) is the ``strangler_django``
app, used here exactly as another Django project would (``INSTALLED_APPS``, ``STRANGLER_ROUTES``,
``STRANGLER_SEAMS`` in ``shop/settings.py``). This package holds only the shop's own code: how
the new side calls its services (``service_client``) and reads them through the ACL.

The seams: ``pricing`` (``orders.services.price_order_lines``: list prices from the catalog
service) and ``inventory`` (``catalog.services.reserve_stock``: reservations in the inventory
service). See ``docs/seams.md``.
"""

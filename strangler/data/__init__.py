"""``strangler data``: a capability's rows moved into its service and kept in step.

move.py     copy and verify (batch passes over the ``acl.data`` ports)
plan.py     what ``data sync CAP`` runs: directions, owner, plugins (from routes.yaml)
relay.py    one direction of one capability: claim, fence, read, translate, apply, mark
faults.py   what a failure means: a row parks, a batch backs off, a poison batch is bisected
health.py   the relay's heartbeat, windows and conflicts, written to the result store
metrics.py  the relay's own Prometheus registry and ``/metrics`` endpoint
"""

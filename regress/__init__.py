"""Golden-traffic regression tests for a strangler migration: a stack of real processes started
from routes.yaml (``stack``; each started and stopped by pid by ``processes``), a corpus of
recorded exchanges checked against it (``corpus``, ``check``), the pytest plugin (``plugin``)
and what ``strangler regress`` prints (``junit``).

It reads routes.yaml through ``facade.config`` and a capability's comparison rules through
``facade.config.evidence``, both pure; it starts the facade by command and never imports its
runtime.
"""

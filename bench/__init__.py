"""Baseline benchmark: the facade against direct access and nginx ``proxy_pass``.

Run it with ``scripts/bench`` (which installs wrk and nginx if missing and bootstraps the venv);
``python -m bench --help`` lists the options. See docs/benchmarks.md.
"""

"""Baseline benchmark: the facade against direct access and nginx ``proxy_pass``.

Run it with ``scripts/bench`` (which installs wrk and nginx if missing and bootstraps the venv);
``python -m bench --help`` lists the options. ``--suite shadow`` runs the shadow-mode benchmark
instead (``bench/shadow.py``, ``bench/compare_bench.py``). See docs/benchmarks.md.
"""

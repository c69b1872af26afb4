"""``strangler export envoy|nginx DIR``: routes.yaml compiled for a proxy the team runs itself.

Pure functions from a loaded ``facade.config.Config`` to text (I/O is the CLI verb's):
``plan`` (the routing rules both targets share, in the matcher's order), ``envoy`` (a static
bootstrap, with the canary's Lua in ``canary.lua``), ``nginx`` (a complete nginx.conf) and
``explain`` (what each target does differently). ``serve --engine envoy`` reuses ``envoy``.
"""

from __future__ import annotations

from facade.config import Config
from strangler.export import envoy, nginx
from strangler.export.limits import ENGINES, Engine, Limit, explain
from strangler.export.plan import ExportError, Options

FILES: dict[Engine, str] = {"envoy": "envoy.yaml", "nginx": "nginx.conf"}


def render(engine: Engine, config: Config, options: Options) -> str:
    """The one file ``engine`` runs from, as text; ExportError if it cannot be expressed."""
    if engine == "envoy":
        return envoy.render(config, options)
    return nginx.render(config, options)


__all__ = ["ENGINES", "FILES", "Engine", "ExportError", "Limit", "Options", "explain", "render"]

"""A mitmproxy addon that records traffic in front of any HTTP app, redacted at capture time.

    mitmdump -s parallel_run/mitm_addon.py --mode reverse:http://127.0.0.1:8000 \\
        --listen-port 8081 --set strangler_record=traffic.flows \\
        [--set strangler_paths=/api/products,/api/orders/{id}] [--set strangler_methods=GET]

Every answered flow whose path falls under ``strangler_paths`` (prefixes or route templates,
see ``parallel_run.traffic.path_matches``; none = all) and whose method is in
``strangler_methods`` (none = all) is appended to the ``strangler_record`` file in mitmproxy's
own flow format, *after* redaction: secret headers, query parameters and JSON/form fields
(``parallel_run.redact``'s defaults plus ``strangler_redact_headers`` and
``strangler_redact_fields``). Bodies are stored decoded. The live traffic itself is untouched:
a redacted copy is written.

Do not also pass ``-w FILE``: mitmproxy's own writer would store the flows unredacted.
``strangler/record.py`` adds a ``strangler_capability`` option that takes the paths and
methods of a capability from routes.yaml.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from parallel_run.flowfile import from_flow, to_flow
from parallel_run.redact import Redactor
from parallel_run.traffic import RecordedExchange, path_matches

log = logging.getLogger("strangler.record")


class Capture:
    """Writes matching, answered flows to ``strangler_record`` (redacted copies)."""

    def __init__(self) -> None:
        self.paths: tuple[str, ...] = ()
        self.methods: frozenset[str] = frozenset()
        self.redactor = Redactor()
        self.written = 0
        self.filtered = 0
        self._file: BinaryIO | None = None
        self._writer: Any = None

    def load(self, loader: Any) -> None:
        loader.add_option(
            "strangler_record", str, "", "Append recorded flows (redacted) to this file."
        )
        loader.add_option(
            "strangler_paths",
            Sequence[str],
            [],
            "Record only paths under these prefixes or route templates (default: all).",
        )
        loader.add_option(
            "strangler_methods", Sequence[str], [], "Record only these methods (default: all)."
        )
        loader.add_option(
            "strangler_redact_headers",
            Sequence[str],
            [],
            "Headers to redact besides authorization, cookie, set-cookie, x-api-key.",
        )
        loader.add_option(
            "strangler_redact_fields",
            Sequence[str],
            [],
            "JSON/form fields and query parameters to redact besides password, token, code...",
        )

    def configure(self, updated: set[str]) -> None:
        from mitmproxy import ctx, exceptions

        options = ctx.options
        self.set_filter(_split(options.strangler_paths), _split(options.strangler_methods))
        self.redactor = Redactor(
            headers=_split(options.strangler_redact_headers),
            json_fields=_split(options.strangler_redact_fields),
            query_params=_split(options.strangler_redact_fields),
        )
        if "strangler_record" in updated:
            self.done()
            if options.strangler_record:
                try:
                    self.open(Path(options.strangler_record))
                except OSError as exc:
                    raise exceptions.OptionsError(  # type: ignore[no-untyped-call]
                        f"strangler_record: cannot open {options.strangler_record!r}: "
                        f"{exc.strerror}"
                    ) from exc

    def set_filter(self, paths: Sequence[str], methods: Sequence[str]) -> None:
        for path in paths:
            if not path.startswith("/"):
                from mitmproxy import exceptions

                raise exceptions.OptionsError(  # type: ignore[no-untyped-call]
                    f"strangler_paths: {path!r} must start with '/' (a prefix or a template)"
                )
        self.paths = tuple(paths)
        self.methods = frozenset(m.upper() for m in methods)

    def open(self, path: Path) -> None:
        from mitmproxy import io

        self._file = path.open("ab")
        self._writer = io.FlowWriter(self._file)  # type: ignore[no-untyped-call]

    def wanted(self, exchange: RecordedExchange) -> bool:
        if self.methods and exchange.method.upper() not in self.methods:
            return False
        return not self.paths or any(path_matches(exchange.path, p) for p in self.paths)

    def response(self, flow: Any) -> None:
        """mitmproxy hook: the whole answer has arrived."""
        if self._writer is None or self._file is None:
            return
        exchange = from_flow(flow, 0)
        if not isinstance(exchange, RecordedExchange) or not self.wanted(exchange):
            self.filtered += 1
            return
        self._writer.add(to_flow(exchange.redacted(self.redactor)))
        self._file.flush()
        self.written += 1

    def done(self) -> None:
        """mitmproxy hook: shutting down (also called when the file changes)."""
        if self._file is not None:
            self._file.close()
            log.info("strangler: %d flows recorded, %d filtered out", self.written, self.filtered)
        self._file = None
        self._writer = None


def _split(values: Sequence[str]) -> list[str]:
    # `--set strangler_paths=/a,/b` arrives as one value; repeated --set as several
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


addons = [Capture()]

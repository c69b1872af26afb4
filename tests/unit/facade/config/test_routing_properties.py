"""Properties of normalize + match together: the facade routes on exactly what it forwards."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from facade.config.matching import Matcher, Route
from facade.config.normalize import normalize_path
from facade.errors import PathRejected

MATCHER = Matcher(
    [
        Route("orders", "/orders"),
        Route("orders", "/orders/{id}"),
        Route("files", "/files/{rest:path}"),
    ]
)
# pieces that proxies have been fooled with: dots, encoded dots and slashes, doubled slashes,
# backslashes, semicolons, case changes, double encodings
PIECES = st.sampled_from(
    [
        "/",
        "//",
        ".",
        "..",
        "%2e",
        "%2E",
        "%2f",
        "%5c",
        "\\",
        ";",
        "orders",
        "ORDERS",
        "files",
        "admin",
        "%6Frders",
        "%252F",
        "1",
        "a",
        "%00",
        "%",
    ]
)
RAW_PATHS = st.lists(PIECES, min_size=1, max_size=12).map(lambda parts: "/" + "".join(parts))


@settings(max_examples=3000)
@given(RAW_PATHS)
def test_a_routed_path_is_inside_its_capability_and_free_of_dot_segments(raw: str) -> None:
    try:
        forwarded = normalize_path(raw)
    except PathRejected:
        return  # answered 400: no upstream sees it
    segments = forwarded.strip("/").split("/") if forwarded.strip("/") else []
    assert ".." not in segments
    assert "." not in segments
    assert "//" not in forwarded
    assert normalize_path(forwarded) == forwarded  # what is forwarded is already settled
    match = MATCHER.match("GET", forwarded)
    if match is None:
        return  # the monolith gets it, without a raw '..'
    # the capability owns the forwarded path itself, not some other spelling of it
    if match.route.capability == "orders":
        assert segments[0] == "orders"
        assert len(segments) <= 2
    else:
        assert segments[0] == "files"
        assert len(segments) >= 2

"""A team's own translators, as routes.yaml names them.

``translator: tests.unit.acl.plugin_translators:Echo``
"""

from __future__ import annotations

from acl.http import HttpRequestData, HttpResponseData


class Echo:
    def request_to_service(self, req: HttpRequestData, /) -> HttpRequestData:
        return req

    def response_to_legacy(
        self, legacy_req: HttpRequestData, service_resp: HttpResponseData, /
    ) -> HttpResponseData:
        return service_resp


ECHO = Echo()


def make_echo() -> Echo:
    return Echo()


class NeedsArguments(Echo):
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix


NOT_A_TRANSLATOR = 42

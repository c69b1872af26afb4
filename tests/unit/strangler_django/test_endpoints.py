"""strangler_django.endpoints' pure parts: Django's patterns as routes.yaml templates (or the
reason none fits), the methods a view answers, the view's dotted path. The whole command
against Django's resolver: tests/integration/test_endpoint_inventory.py."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.urls.resolvers import RegexPattern, RoutePattern
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.generic import RedirectView, TemplateView

from strangler_django.endpoints import (
    NotExpressible,
    joined_route,
    methods_of,
    template_of,
    view_path,
)


def regex(text: str, *, endpoint: bool = True) -> RegexPattern:
    return RegexPattern(text, is_endpoint=endpoint)


def route(text: str, *, endpoint: bool = True) -> RoutePattern:
    return RoutePattern(text, is_endpoint=endpoint)


@pytest.mark.parametrize(
    ("levels", "template"),
    [
        ([route("")], "/"),
        ([route("api/", endpoint=False), route("products/<str:sku>")], "/api/products/{sku}"),
        ([route("c/<int:a>/<slug:b>/<uuid:c>/")], "/c/{a}/{b}/{c}/"),
        ([route("files/<path:rest>")], "/files/{rest:path}"),
        ([regex(r"^products/(?P<sku>[^/]+)/$")], "/products/{sku}/"),
        ([regex(r"^o/(?P<n>\d+)/(?P<s>[-\w]+)$")], "/o/{n}/{s}"),
        ([regex(r"^static/(?P<rest>.+)$")], "/static/{rest:path}"),
        ([regex(r"^feed/?$")], "/feed"),
        ([regex(r"^robots\.txt$")], "/robots.txt"),
        ([route("admin/", endpoint=False), regex(r"(?P<url>.*)$")], "/admin/{url:path}"),
        ([regex(r"^v1/", endpoint=False), regex(r"^(?P<id>[0-9]+)/$")], "/v1/{id}/"),
    ],
)
def test_patterns_a_template_expresses(levels: list[Any], template: str) -> None:
    assert template_of(levels) == template


@pytest.mark.parametrize(
    ("levels", "reason"),
    [
        ([route("r/<path:a>/<path:b>/")], "path converter before the end"),
        ([route("v<int:n>/")], "mixes text and a parameter"),
        ([regex(r"^(?P<app_label>auth|shop)/$")], "no template parameter matches"),
        ([regex(r"^y/(?P<y>\d{4})/$")], "no template parameter matches"),
        ([regex(r"^(kind|type)/$")], "unnamed or non-capturing group"),
        ([regex(r"^a.b$")], "using '.'"),
        ([regex(r"nowhere/$")], "without '^'"),
        ([regex(r"^open/(?P<x>[^/]+)")], "without '$'"),
        ([regex(r"^x/(?P<rest>.+)/tail$")], "no template parameter matches"),
        ([regex(r"^n/(?P<a>(?:x|y))$")], "nested groups"),
    ],
)
def test_patterns_no_template_expresses_say_why(levels: list[Any], reason: str) -> None:
    with pytest.raises(NotExpressible, match=re.escape(reason)):
        template_of(levels)


def test_the_route_is_joined_as_django_joins_it() -> None:
    assert joined_route([route("admin/", endpoint=False), regex(r"^(?P<x>a)/$")]) == (
        "admin/(?P<x>a)/$"
    )
    assert joined_route([regex("^v1/", endpoint=False), regex("^items/$")]) == "^v1/items/$"
    assert joined_route([route("", endpoint=False), route("home")]) == "home"


class Things(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    def delete(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse()


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


@csrf_exempt
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


@require_POST
@require_http_methods(["GET", "POST", "PUT"])
def narrowed(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


@pytest.mark.parametrize(
    ("view", "methods"),
    [
        (Things.as_view(), ["GET", "DELETE", "HEAD", "OPTIONS"]),
        (Things.as_view(http_method_names=["get"]), ["GET"]),
        (TemplateView.as_view(template_name="x.html"), ["GET", "HEAD", "OPTIONS"]),
        (
            RedirectView.as_view(url="/"),
            ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
        ),
        (plain, None),
        (login, ["GET", "POST"]),
        (require_GET(plain), ["GET"]),  # Django's require_GET refuses HEAD
        (narrowed, ["POST"]),
        (csrf_exempt(plain), None),
        (require_http_methods({"PUT", "GET", "DELETE"})(plain), ["DELETE", "GET", "PUT"]),
    ],
)
def test_the_methods_a_view_answers(view: Any, methods: list[str] | None) -> None:
    assert methods_of(view) == methods


class Shelf(View):
    """What Django REST framework's ``ViewSet.as_view(actions)`` leaves: methods -> actions."""

    def list(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    def create(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse()


def test_a_viewsets_actions_are_its_methods() -> None:
    view = Shelf.as_view()
    view.actions = {"get": "list", "post": "create"}  # type: ignore[attr-defined]
    assert methods_of(view) == ["GET", "POST", "HEAD", "OPTIONS"]


def test_the_view_is_named_by_its_class_or_function() -> None:
    here = __name__
    assert view_path(Things.as_view()) == f"{here}.Things"
    assert view_path(login) == f"{here}.login"
    assert view_path(RedirectView.as_view(url="/")) == "django.views.generic.base.RedirectView"

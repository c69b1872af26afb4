"""``manage.py strangler_endpoints``, the monolith's endpoint inventory, against Django's own
resolver: on the demo shop, on a stock ``django-admin startproject`` project (its admin) and on
that project with a URLconf of every kind of pattern (``--urlconf``). The output parses as the
inventory routes.yaml names (``legacy.endpoints``); every URLPattern the resolver holds is
listed once, in its order; each expressible endpoint's sample path resolves, in Django, to that
very pattern and, in the inventory's index, to that endpoint; the others carry their reason.
Django runs in subprocesses (``tests/support/django_urls.py`` asks its resolver)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from facade.config import load
from facade.config.endpoints import Endpoint, Inventory, parse_inventory
from tests.support.shop_sync import ROOT, run_shop

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
COMMITTED = ROOT / "legacy_monolith" / "endpoints.json"
REGENERATE = "python -m legacy_monolith strangler_endpoints --output legacy_monolith/endpoints.json"

SETTINGS = """
INSTALLED_APPS += ["strangler_django"]
STRANGLER_ROUTES = __import__("os").environ.get("TOY_ROUTES")
"""

# every kind of pattern, behind the stock admin (``--urlconf toy.edge_urls``)
EDGE_URLS = r"""
from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path, re_path, register_converter
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_safe
from django.views.generic import RedirectView


class FourDigitYear:
    regex = "[0-9]{4}"

    def to_python(self, value):
        return int(value)

    def to_url(self, value):
        return str(value)


register_converter(FourDigitYear, "yyyy")


def plain(request, **kwargs):
    return HttpResponse("ok")


@require_GET
def only_get(request, **kwargs):
    return HttpResponse("ok")


@csrf_exempt
@require_safe
@require_http_methods(["GET", "POST", "PUT"])
def nested(request, **kwargs):
    return HttpResponse("ok")


class Things(View):
    def get(self, request):
        return HttpResponse("ok")

    def post(self, request):
        return HttpResponse("ok")


class Stamp(View):
    http_method_names = ["get", "post", "head"]

    def get(self, request):
        return HttpResponse("ok")


blog = [
    path("", plain, name="index"),
    path("<int:year>/<slug:slug>/", plain, name="post"),
    path("archive/<yyyy:year>/", only_get, name="archive"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("blog/", include((blog, "blog"))),
    path("v2/", include((blog, "blog"), namespace="blog-v2")),
    path("things/", Things.as_view(), name="things"),
    path("stamp", Stamp.as_view()),
    path("go", RedirectView.as_view(url="/", http_method_names=["get"])),
    path("nested/<uuid:token>", nested),
    path("files/<path:rest>", plain, name="files"),
    path("mixed/v<int:n>/", plain),
    path("deep/<path:a>/tail", plain),
    re_path(r"^legacy/(?P<sku>[^/]+)/$", plain, name="legacy-sku"),
    re_path(r"^legacy/orders/(?P<n>\d+)/items/(?P<item>[-\w]+)/?$", plain),
    re_path(r"^static-ish/(?P<rest>.+)$", plain),
    re_path(r"^robots\.txt$", plain),
    re_path(r"^humans.txt$", plain),
    re_path(r"^year/(?P<y>\d{4})/$", plain),
    re_path(r"^(kind|type)/$", plain),
    re_path(r"nowhere/$", plain),
    re_path(r"^prefix-only/(?P<x>[^/]+)", plain),
    re_path(r"^inc/", include([re_path(r"^(?P<id>[0-9]+)/$", plain, name="inc")])),
    path("mirror", plain),
    path("mirror/", plain),
    path("dup/<int:id>", plain),
    path("dup/<slug:s>", plain),
    path("dup/<str:any>", plain),
    path("dup/<int:again>", plain),
]
"""

# a value of each converter, and candidates for a regex group (the first that fits)
CONVERTER_VALUES = {
    "int": "7",
    "str": "s1",
    "slug": "a-slug",
    "uuid": "12345678-1234-5678-1234-567812345678",
    "path": "p/q",
    "yyyy": "2024",
}
GROUP_VALUES = ("7", "a-slug", "s1", "p/q")


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stock ``django-admin startproject`` with the app added, and the edge URLconf beside
    its own (untouched) urls.py."""
    root = tmp_path_factory.mktemp("toy-endpoints")
    subprocess.run(
        [str(BIN / "django-admin"), "startproject", "toy", str(root)],
        check=True,
        capture_output=True,
        env=_toy_env(),
    )
    settings = root / "toy" / "settings.py"
    settings.write_text(settings.read_text() + SETTINGS)
    (root / "toy" / "edge_urls.py").write_text(EDGE_URLS)
    return root


def _toy_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "TOY_ROUTES"}}
    return env | {"PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "toy.settings"} | extra


def _shop_env(tmp_path: Path, *, echo: bool = False) -> dict[str, str]:
    return {
        "STRANGLER_LEGACY_DB": str(tmp_path / "legacy.sqlite3"),
        "STRANGLER_LEGACY_DEBUG_ECHO": "1" if echo else "0",
        "STRANGLER_ROUTES": "",
    }


def toy_manage(
    project: Path, *args: str, ok: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project,
        env=_toy_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def sample_of(endpoint: Endpoint) -> str:
    """A concrete path for an endpoint's template, each parameter given a value its converter
    (or regex group, read from the pattern) accepts; the final slash kept as Django wants it."""
    assert endpoint.template is not None
    parts = []
    for segment in endpoint.template.strip("/").split("/") if endpoint.template != "/" else []:
        param = re.fullmatch(r"\{(\w+)(:path)?\}", segment)
        if param is None:
            parts.append(segment)
            continue
        name = param.group(1)
        converter = re.search(rf"(?<!\?P)<(?:(\w+):)?{name}>", endpoint.pattern)
        if converter is not None:
            parts.append(CONVERTER_VALUES[converter.group(1) or "str"])
            continue
        group = re.search(rf"\(\?P<{name}>([^()]*)\)", endpoint.pattern)
        assert group is not None, f"no converter nor group for {name} in {endpoint.pattern}"
        parts.append(next(v for v in GROUP_VALUES if re.fullmatch(group.group(1), v)))
    path = "/" + "/".join(parts)
    return path + "/" if endpoint.template.endswith("/") and path != "/" else path


def ask_django(cwd: Path, env: dict[str, str], asked: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.django_urls"],
        cwd=cwd,
        env={**{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}, **env},
        input=json.dumps(asked),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    facts: dict[str, Any] = json.loads(done.stdout)
    return facts


def agrees_with_django(
    text: str, cwd: Path, env: dict[str, str], urlconf: str | None = None
) -> Inventory:
    """The command's output against Django's resolver (see the module docstring)."""
    inventory = parse_inventory(text, source="strangler_endpoints")
    endpoints = inventory.endpoints
    expressible = [e for e in endpoints if e.template is not None]
    samples = [sample_of(e) for e in expressible]
    facts = ask_django(
        cwd,
        env,
        {"urlconf": urlconf, "views": [e.view for e in endpoints], "samples": samples},
    )
    # every URLPattern of the resolver, once, in its order, with Django's text and name
    listed = [{"route": e.pattern, "name": e.name} for e in endpoints]
    assert listed == facts["walk"]
    wrong_views = [e.view for e, ok in zip(endpoints, facts["views"], strict=True) if not ok]
    assert wrong_views == []
    position = {e.key: i for i, e in enumerate(endpoints)}
    for endpoint, sample, resolved in zip(expressible, samples, facts["resolved"], strict=True):
        here = position[endpoint.key]
        method = endpoint.answers()[0]
        assert resolved is not None, f"{sample} ({endpoint.pattern}): Django answers 404"
        if endpoint.shadowed_by is not None:
            # the earlier pattern takes every path of this one: Django never reaches it
            assert resolved["position"] == position[endpoint.shadowed_by], sample
            assert inventory.index.match(method, sample) == endpoint.shadowed_by, sample
        elif endpoint.overlaps is not None:
            # an earlier pattern of its shape may take its sample, or this one serves it; the
            # index counts it under the first of the shape (it tells no converters apart)
            group = [
                position[e.key]
                for e in endpoints
                if endpoint.overlaps in (e.key, e.overlaps) and position[e.key] <= here
            ]
            assert resolved["position"] in group, sample
            assert inventory.index.match(method, sample) == endpoint.overlaps, sample
        else:
            assert (resolved["position"], resolved["route"]) == (here, endpoint.pattern), sample
            assert inventory.index.match(method, sample) == endpoint.key, sample
    for endpoint in endpoints:
        assert (endpoint.template is None) == bool(endpoint.reason), endpoint
    return inventory


# ---------------------------------------------------------------- the demo shop


@pytest.mark.parametrize("echo", [False, True], ids=["shop", "shop+debug-echo"])
def test_the_shops_inventory_agrees_with_its_resolver(tmp_path: Path, echo: bool) -> None:
    text = run_shop("strangler_endpoints", env=_shop_env(tmp_path, echo=echo))
    inventory = agrees_with_django(
        text,
        ROOT,
        {"DJANGO_SETTINGS_MODULE": "legacy_monolith.shop.settings"}
        | _shop_env(tmp_path, echo=echo),
    )
    found = {e.pattern: e for e in inventory.endpoints}
    product = found["api/products/<str:sku>"]
    assert product.template == "/api/products/{sku}"
    assert product.methods == ("GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
    assert product.view == "legacy_monolith.catalog.views.ProductDetailView"
    assert found["account/login"].methods == ("GET", "POST")  # require_http_methods
    assert found["shop/"].methods is None  # a function view, no method decorator
    assert found["admin/(?P<url>.*)$"].template == "/admin/{url:path}"
    assert ("_debug/echo/<path:rest>" in found) is echo


def test_the_committed_inventory_is_what_the_command_prints(tmp_path: Path) -> None:
    printed = run_shop("strangler_endpoints", env=_shop_env(tmp_path))
    assert COMMITTED.read_text(encoding="utf-8") == printed, (
        f"{COMMITTED.relative_to(ROOT)} is stale (the shop's URLs changed): regenerate it with "
        f"`{REGENERATE}`"
    )


def test_the_repos_routes_yaml_names_the_inventory() -> None:
    config = load(ROOT / "routes.yaml")
    assert config.inventory is not None
    assert Path(config.inventory.source).resolve() == COMMITTED
    assert config.inventory.index.match("GET", "/api/products/x1") == "/api/products/{sku}"


def test_output_writes_the_file_and_refuses_a_missing_directory(tmp_path: Path) -> None:
    out = tmp_path / "endpoints.json"
    run_shop("strangler_endpoints", "--output", str(out), env=_shop_env(tmp_path))
    assert out.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8")
    absent = tmp_path / "absent" / "endpoints.json"
    done = subprocess.run(
        [sys.executable, "-m", "legacy_monolith", "strangler_endpoints", "--output", str(absent)],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        | _shop_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert f"directory {tmp_path / 'absent'} does not exist" in done.stderr
    assert not (tmp_path / "absent").exists()


# ---------------------------------------------------------------- a stock startproject


def test_a_stock_project_and_its_admin_agree_with_the_resolver(toy: Path) -> None:
    text = toy_manage(toy, "strangler_endpoints").stdout
    inventory = agrees_with_django(text, toy, {"DJANGO_SETTINGS_MODULE": "toy.settings"})
    found = {e.name: e for e in inventory.endpoints if e.name}
    assert found["admin:index"].template == "/admin/"
    assert found["admin:auth_user_changelist"].template == "/admin/auth/user/"
    assert found["admin:auth_user_change"].template is None  # <path:object_id>/change/
    assert "path converter" in (found["admin:auth_user_change"].reason or "")
    assert found["admin:app_list"].template is None  # ^(?P<app_label>auth)/$: an alternation
    catch_all = inventory.endpoints[-1]
    assert (catch_all.pattern, catch_all.template) == ("admin/(?P<url>.*)$", "/admin/{url:path}")


def test_every_kind_of_pattern_agrees_with_the_resolver(toy: Path) -> None:
    text = toy_manage(toy, "strangler_endpoints", "--urlconf", "toy.edge_urls").stdout
    inventory = agrees_with_django(
        text, toy, {"DJANGO_SETTINGS_MODULE": "toy.settings"}, urlconf="toy.edge_urls"
    )
    found = {e.pattern: e for e in inventory.endpoints}

    def said(pattern: str) -> tuple[str | None, tuple[str, ...] | None, str | None]:
        e = found[pattern]
        return e.template, e.methods, e.name

    assert said("blog/<int:year>/<slug:slug>/") == ("/blog/{year}/{slug}/", None, "blog:post")
    assert said("v2/<int:year>/<slug:slug>/") == ("/v2/{year}/{slug}/", None, "blog-v2:post")
    assert said("blog/archive/<yyyy:year>/") == ("/blog/archive/{year}/", ("GET",), "blog:archive")
    assert said("things/") == ("/things/", ("GET", "POST", "HEAD", "OPTIONS"), "things")
    assert said("stamp") == ("/stamp", ("GET", "HEAD"), None)  # no post handler, no options
    assert said("go") == ("/go", ("GET",), None)  # http_method_names given to as_view
    assert said("nested/<uuid:token>") == ("/nested/{token}", ("GET",), None)
    assert said("files/<path:rest>") == ("/files/{rest:path}", None, "files")
    assert said("^legacy/(?P<sku>[^/]+)/$")[0] == "/legacy/{sku}/"
    assert said(r"^legacy/orders/(?P<n>\d+)/items/(?P<item>[-\w]+)/?$")[0] == (
        "/legacy/orders/{n}/items/{item}"
    )
    assert said("^static-ish/(?P<rest>.+)$")[0] == "/static-ish/{rest:path}"
    assert said(r"^robots\.txt$")[0] == "/robots.txt"
    assert said("^inc/(?P<id>[0-9]+)/$") == ("/inc/{id}/", None, "inc")
    unexpressible = {e.pattern: e.reason for e in inventory.endpoints if e.template is None}
    for pattern in (
        "mixed/v<int:n>/",
        "deep/<path:a>/tail",
        "^humans.txt$",
        r"^year/(?P<y>\d{4})/$",
        "^(kind|type)/$",
        "nowhere/$",
        "^prefix-only/(?P<x>[^/]+)",
    ):
        assert unexpressible.get(pattern), f"{pattern} is listed with a reason"
    # Django tells ``mirror`` from ``mirror/``; the index does too, by the path's final slash
    assert inventory.index.match("GET", "/mirror") == "/mirror"
    assert inventory.index.match("GET", "/mirror/") == "/mirror/"
    # ``dup/<slug:s>`` after ``dup/<int:id>``: one shape, but Django serves /dup/a-slug from
    # the second (int rejects it): live, counted with the first. ``<int:again>`` is never reached
    assert found["dup/<slug:s>"].overlaps == "/dup/{id}"
    assert found["dup/<slug:s>"].shadowed_by is None
    assert found["dup/<slug:s>"].params == (("s", "slug"),)
    assert found["dup/<str:any>"].overlaps == "/dup/{id}"
    assert found["dup/<int:again>"].shadowed_by == "/dup/{id}"


def test_an_unknown_urlconf_is_a_clear_error(toy: Path) -> None:
    done = toy_manage(toy, "strangler_endpoints", "--urlconf", "toy.absent_urls", ok=False)
    assert done.returncode != 0
    assert "--urlconf toy.absent_urls" in done.stderr


def test_the_first_inventory_is_written_while_routes_yaml_already_names_it(
    toy: Path, tmp_path: Path
) -> None:
    """A team names the file in routes.yaml, then writes it: the seams' system check (which
    loads routes.yaml, and so the file) must not stop the command that writes it. A missing
    inventory is no error of routes.yaml (it only reports): the check passes before it too."""
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "version: 1\nlegacy:\n  url: http://127.0.0.1:9\n  endpoints: endpoints.json\n"
    )
    toy_manage(toy, "check", TOY_ROUTES=str(routes))  # exits 0
    assert load(routes).inventory_problem is not None
    toy_manage(
        toy,
        "strangler_endpoints",
        "--output",
        str(tmp_path / "endpoints.json"),
        TOY_ROUTES=str(routes),
    )
    config = load(routes)
    assert config.inventory is not None
    assert config.inventory.index.match("GET", "/admin/") == "/admin/"

"""`strangler plan` and `--dry-run` as a user runs them: the change of owner with its traffic
share, the gate's answer as the exit code, and nothing written (routes.yaml's bytes and mtime,
the audit trail)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from facade.config.endpoints import dump_inventory
from parallel_run.store import audit_log
from tests.support import retire_store as seed
from tests.support.strangler_cli import run, write_routes

pytestmark = pytest.mark.e2e

ROUTES = """\
version: 1
legacy:
  url: "http://127.0.0.1:8000"
  endpoints: endpoints.json   # manage.py strangler_endpoints --output endpoints.json
services:
  catalog: {url: "http://127.0.0.1:8101"}
capabilities:
  products:
    match: [{methods: [GET], path: "/api/products/{sku}"}]
    service: catalog
    mode: shadow   # comparing since Monday
  reviews:
    match: [{path: "/api/reviews"}]
    service: catalog
    mode: extracted
store:
  url: sqlite:///store.db
"""


@pytest.fixture
def routes(tmp_path: Path) -> Path:
    (tmp_path / "endpoints.json").write_text(
        dump_inventory(
            [
                {"template": "/api/products/{sku}", "methods": ["GET"], "view": "shop.product"},
                {"template": "/api/orders", "methods": ["GET", "POST"], "view": "shop.orders"},
            ]
        )
    )
    path = write_routes(tmp_path, ROUTES)
    store = seed.open_store(path)
    at = datetime.now(UTC) - timedelta(hours=2)
    seed.served(store, "products", at=at, by="legacy", count=75, endpoint="/api/products/{sku}")
    seed.served(store, "", at=at, by="legacy", count=25, endpoint="/api/orders")
    seed.cut_over(store, "older", at=at)  # one audit record, which must stay the only one
    store.close()
    return path


def unchanged(routes: Path):  # type: ignore[no-untyped-def]
    """A check that routes.yaml (bytes, mtime) and the audit trail are as they are now."""

    def state() -> tuple[bytes, int, int]:
        store = seed.open_store(routes)
        try:
            with store.engine.connect() as connection:
                rows = connection.execute(select(func.count()).select_from(audit_log)).scalar()
        finally:
            store.close()
        return routes.read_bytes(), routes.stat().st_mtime_ns, int(rows or 0)

    before = state()
    return lambda: state() == before


def test_plan_cutover_shows_the_owner_change_with_its_share_and_writes_nothing(
    routes: Path,
) -> None:
    same = unchanged(routes)

    result = run("plan", "cutover", "products", "--json", routes=routes)

    assert result.returncode == 3, result.stderr  # the evidence gate would refuse
    plan = json.loads(result.stdout)
    assert plan["written"] is False
    (cap,) = plan["capabilities"]
    assert (cap["before"]["mode"], cap["after"]["mode"], cap["allowed"]) == (
        "shadow",
        "extracted",
        False,
    )
    assert "needs 500 more comparisons" in cap["verdict"]
    (endpoint,) = plan["traffic"]["endpoints"]
    assert endpoint["endpoint"] == "/api/products/{sku}"
    assert (endpoint["requests"], endpoint["share"], endpoint["moved"]) == (75, 0.75, 75)
    assert plan["traffic"]["moved_to_services_share"] == 0.75
    assert same()

    text = run("plan", "cutover", "products", routes=routes)
    assert text.returncode == 3
    assert "products: shadow -> extracted; service serves 0% -> 100%" in text.stdout
    assert "/api/products/{sku}: 75 requests (75.0% of all)" in text.stdout
    assert "moved to services: 75 requests (75.0% of all)" in text.stdout
    assert same()


def test_plan_against_a_hand_edited_file(routes: Path) -> None:
    proposal = routes.with_name("proposed.yaml")
    proposal.write_text(
        ROUTES.replace(
            "store:",
            "  orders:\n"
            '    match: [{path: "/api/orders"}]\n'
            "    service: catalog\n"
            "    mode: canary\n"
            "    canary: {percent: 8}\n"
            "store:",
        )
    )
    same = unchanged(routes)

    result = run("plan", "--against", str(proposal), "--since", "1d", routes=routes)

    assert result.returncode == 0, result.stderr  # 8% is under the ungated canary percent
    assert "orders: (none) -> canary 8%" in result.stdout
    assert "/api/orders: 25 requests (25.0% of all); monolith -> orders (canary 8%)" in (
        result.stdout
    )
    assert "served by a service 0 -> 2" in result.stdout
    assert same()


def test_an_overlapping_proposal_is_shown_as_its_errors(routes: Path) -> None:
    proposal = routes.with_name("proposed.yaml")
    proposal.write_text(
        ROUTES.replace(
            "store:",
            '  twin:\n    match: [{methods: [GET], path: "/api/products/{id}"}]\nstore:',
        )
    )

    result = run("plan", "--against", str(proposal), routes=routes)

    assert result.returncode == 2
    assert f"{proposal}:" in result.stderr
    assert "overlaps" in result.stderr


@pytest.mark.parametrize(
    ("verb", "code"),
    [
        (("cutover", "products"), 3),
        (("canary", "products", "--percent", "5"), 0),
        (("shadow", "products"), 0),
        (("rollback", "products", "--to", "legacy"), 0),
        (("retire", "reviews"), 3),  # no audit record of its cutover
    ],
)
def test_dry_run_on_the_edit_verbs_prints_the_plan_and_writes_nothing(
    routes: Path, verb: tuple[str, ...], code: int
) -> None:
    same = unchanged(routes)

    result = run(*verb, "--dry-run", routes=routes)

    assert result.returncode == code, result.stderr
    assert result.stdout.startswith(f"plan: {verb[0]} {verb[1]} (nothing written)")
    assert same()


def test_dry_run_of_retire_before_cutover_is_refused_as_retire_would_be(routes: Path) -> None:
    same = unchanged(routes)
    result = run("retire", "products", "--dry-run", routes=routes)
    assert result.returncode == 3
    assert "mode is shadow, not extracted" in result.stderr
    assert same()


def test_options_before_the_verb_are_refused_not_dropped(routes: Path) -> None:
    result = run("plan", "--json", "cutover", "products", routes=routes)
    assert result.returncode == 2
    assert "put --since and --json after the verb" in result.stderr


def test_plan_leaves_the_store_as_it_is_even_at_an_older_schema(
    routes: Path, tmp_path: Path
) -> None:
    from parallel_run.redact import Redactor
    from parallel_run.store import ResultStore

    database = tmp_path / "store.db"
    database.unlink()
    for leftover in tmp_path.glob("store.db-*"):
        leftover.unlink()
    ResultStore.open(f"sqlite:///{database}", redactor=Redactor(), revision="0005").close()
    before = (database.read_bytes(), database.stat().st_mtime_ns)

    result = run("plan", "cutover", "products", "--json", routes=routes)

    assert result.returncode == 3, result.stderr
    (note,) = json.loads(result.stdout)["notes"]
    assert "is at schema revision 0005, not 0006: read as empty" in note
    assert (database.read_bytes(), database.stat().st_mtime_ns) == before
    fresh = run("plan", "cutover", "products", routes=routes)
    assert "note: the store" in fresh.stdout
    assert (database.read_bytes(), database.stat().st_mtime_ns) == before

    database.unlink()
    assert run("plan", "cutover", "products", routes=routes).returncode == 3
    assert not database.exists()


def test_plan_of_a_current_store_leaves_its_bytes(routes: Path, tmp_path: Path) -> None:
    database = tmp_path / "store.db"
    before = (database.read_bytes(), database.stat().st_mtime_ns)
    assert run("plan", "cutover", "products", routes=routes).returncode == 3
    assert (database.read_bytes(), database.stat().st_mtime_ns) == before


def test_dry_run_with_force_predicts_the_verbs_exit(routes: Path) -> None:
    same = unchanged(routes)

    forced = run("cutover", "products", "--force", "--reason", "r", "--dry-run", routes=routes)
    assert forced.returncode == 0, forced.stderr
    assert "--force --reason overrides it: exit 0" in forced.stdout
    no_reason = run("cutover", "products", "--force", "--dry-run", routes=routes)
    assert no_reason.returncode == 2
    assert "--force needs --reason" in no_reason.stderr
    assert same()

    real = run("cutover", "products", "--force", "--reason", "r", routes=routes)
    assert real.returncode == forced.returncode, real.stderr


def test_a_proposal_copied_elsewhere_uses_the_routes_inventory(
    routes: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    proposal = tmp_path_factory.mktemp("elsewhere") / "proposed.yaml"
    proposal.write_text(ROUTES.replace("mode: shadow", "mode: extracted"))

    result = run("plan", "--against", str(proposal), routes=routes)

    assert result.returncode == 3, result.stderr  # the evidence gate, not bad input
    assert "/api/products/{sku}: 75 requests" in result.stdout
    assert "legacy.endpoints 'endpoints.json': no file" in result.stdout
    assert f"the inventory of {routes}" in result.stdout

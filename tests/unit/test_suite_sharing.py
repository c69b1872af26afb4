"""How ./scripts/test shares the suite among pytest-xdist workers (tests/support/parallel.py)."""

from __future__ import annotations

from tests.support.parallel import scope_of


def test_a_test_file_is_one_unit_of_work_whatever_its_parameters() -> None:
    seams = "tests/integration/test_seams.py::test_orders_give_the_same_answers_in_every_mode"
    assert scope_of(f"{seams}[legacy]") == scope_of(f"{seams}[new]")
    assert scope_of(f"{seams}[new]") == "tests/integration/test_seams.py"
    assert scope_of("tests/unit/facade/test_reload.py::test_f1") == (
        "tests/unit/facade/test_reload.py"
    )


def test_the_golden_corpus_files_share_one_worker() -> None:
    assert scope_of("tests/golden/inventory.har::inventory GET /api/inventory/SKU-1") == (
        scope_of("tests/golden/product-catalog.har::product-catalog GET /api/products/SKU-1")
    )


def test_each_architecture_test_goes_to_any_free_worker() -> None:
    one = "tests/unit/test_architecture.py::test_each_module_imports_alone[facade.app]"
    other = "tests/unit/test_architecture.py::test_each_module_imports_alone[facade.server]"
    assert scope_of(one) != scope_of(other)

"""Golden verdicts as JUnit XML (what CI systems show) and as one JSON object."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from regress.check import Verdict, explain
from regress.corpus import Case


def verdict_dict(verdict: Verdict) -> dict[str, Any]:
    case = verdict.case
    assert case.exchange is not None
    return {
        "id": case.id,
        "file": str(case.file),
        "capability": case.capability,
        "method": case.exchange.method,
        "target": case.exchange.target,
        "passed": verdict.passed,
        "served_by": verdict.served_by,
        "status": verdict.answer.status,
        "elapsed_ms": round(verdict.elapsed_ms, 1),
        "differences": [d.to_dict() for d in verdict.comparison.differences],
    }


def report_dict(
    verdicts: Sequence[Verdict], skipped: Sequence[Case], *, corpus: Path, base_url: str
) -> dict[str, Any]:
    failed = sum(not v.passed for v in verdicts)
    return {
        "corpus": str(corpus),
        "base_url": base_url,
        "passed": len(verdicts) - failed,
        "failed": failed,
        "skipped": len(skipped),
        "cases": [verdict_dict(v) for v in verdicts],
        "skipped_cases": [
            {"id": c.id, "file": str(c.file), "reason": c.skip_reason} for c in skipped
        ],
    }


def write_junit(
    path: Path, verdicts: Sequence[Verdict], skipped: Sequence[Case], *, name: str = "golden"
) -> None:
    """One ``testcase`` per case: classname the capability, name ``METHOD target``; a
    mismatch is a ``failure`` whose message names the differing paths."""
    failures = sum(not v.passed for v in verdicts)
    seconds = sum(v.elapsed_ms for v in verdicts) / 1000
    root = ET.Element("testsuites")
    suite = ET.SubElement(
        root,
        "testsuite",
        name=name,
        tests=str(len(verdicts) + len(skipped)),
        failures=str(failures),
        errors="0",
        skipped=str(len(skipped)),
        time=f"{seconds:.3f}",
    )
    for verdict in verdicts:
        case = verdict.case
        assert case.exchange is not None
        element = ET.SubElement(
            suite,
            "testcase",
            classname=f"golden.{case.capability}",
            name=f"{case.exchange.method} {case.exchange.target}",
            file=str(case.file),
            time=f"{verdict.elapsed_ms / 1000:.3f}",
        )
        if not verdict.passed:
            paths = sorted({d.path for d in verdict.comparison.differences})
            failure = ET.SubElement(
                element, "failure", message="differs in " + ", ".join(paths), type="GoldenMismatch"
            )
            failure.text = explain(verdict)
    for case in skipped:
        element = ET.SubElement(
            suite,
            "testcase",
            classname=f"golden.{case.capability}",
            name=case.id,
            file=str(case.file),
        )
        ET.SubElement(element, "skipped", message=case.skip_reason or "")
    tree = ET.ElementTree(root)
    ET.indent(tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="utf-8", xml_declaration=True)

"""Under CI=true a skipped test fails the run: a check that did not run has not passed.

Locally a test may skip when the machine lacks something it needs (a font, CUPS, root); in CI
that machine is ours to set up (ci/system-deps.sh installs everything in ci/apt-packages.txt),
so a skip there means a check silently stopped running. Only the tests in ALLOWED may skip
under CI, each for the reason given there. Skips are left alone unless CI is exactly "true"
(what CI services set); expected failures (xfail) are not skips and are left alone too.

Registered from tests/conftest.py with ``pytest_plugins = ["tests.strict_skips"]``; by hand:
``CI=true pytest -p tests.strict_skips ...``.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

# Node IDs (relative to the repository, without parameters) that may skip under CI=true.
ALLOWED: dict[str, str] = {
    "hwtests/test_qualification.py::test_qualification_hardware": (
        "qualifies a real printer, named by RECEIPTD_HW_PRINTER; CI has no printer attached. "
        "The same qualification runs against the emulator in test_qualification_emulator."
    ),
}


def strict() -> bool:
    return os.environ.get("CI") == "true"


def allowed(nodeid: str) -> bool:
    return nodeid.split("[", 1)[0] in ALLOWED


def _reason(longrepr: object) -> str:
    # A skip's longrepr is (path, line, "Skipped: why").
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        path, line, why = longrepr
        return f"{why} ({path}:{line})"
    return str(longrepr)


def _fail(report: pytest.TestReport | pytest.CollectReport) -> None:
    why = _reason(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (
        f"skipped under CI=true, which fails the run: {why}\n"
        "Install what the test needs (ci/system-deps.sh, ci/apt-packages.txt); only the tests "
        "in tests/strict_skips.py ALLOWED may skip in CI."
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    if not strict():
        return None
    return f"CI=true: a skipped test fails (allowed to skip: {', '.join(sorted(ALLOWED))})"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and strict() and not allowed(
        item.nodeid
    ):
        _fail(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    # A whole module skipped at import (pytest.skip(allow_module_level=True), importorskip).
    report = yield
    if report.skipped and strict() and not allowed(collector.nodeid):
        _fail(report)
    return report

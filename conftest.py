"""Doctests of src/imagedata (pytest runs them with ``--doctest-modules``).

An example that needs an optional library (nibabel, SimpleITK, matplotlib, ...) which
is not installed is reported as skipped, naming the extra to install, instead of as a
failure: imagedata then raises :class:`~imagedata.errors.MissingDependencyError`, whose
message says what to install.  ``make test`` installs every extra, so there they run.
Examples that make a folder with :func:`tempfile.mkdtemp` get it under the test's own
``tmp_path``, which pytest cleans up, instead of leaving it in the system temp folder.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _doctest_temp_folder(request: pytest.FixtureRequest) -> Generator:
    """Point :mod:`tempfile` at ``tmp_path`` while a doctest runs (tests are untouched)."""
    if not isinstance(request.node, pytest.DoctestItem):
        yield
        return
    import tempfile

    saved = tempfile.tempdir
    tempfile.tempdir = str(request.getfixturevalue("tmp_path"))
    try:
        yield
    finally:
        tempfile.tempdir = saved


def _missing_dependency(excinfo: Any) -> str | None:
    """The message of the MissingDependencyError that stopped a doctest, else None.

    The first failing example decides: with ``--doctest-continue-on-failure`` the
    examples after it fail only because it did.
    """
    from imagedata.errors import MissingDependencyError

    failures = getattr(excinfo.value, "failures", None) or [excinfo.value]
    exc_info = getattr(failures[0], "exc_info", None)  # a doctest.UnexpectedException
    if exc_info is not None and isinstance(exc_info[1], MissingDependencyError):
        return str(exc_info[1])
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator:
    outcome = yield
    if call.when != "call" or call.excinfo is None or not isinstance(item, pytest.DoctestItem):
        return
    message = _missing_dependency(call.excinfo)
    if message is not None:
        report = outcome.get_result()
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.reportinfo()[1] or 0, f"Skipped: {message}")

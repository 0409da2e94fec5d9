"""Shared fixtures.  Paths resolve relative to this file, never the working directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TESTDATA = SHARED_DATA / "imagedata-testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The real scanner data in ../shared/data/imagedata-testdata (skips when absent)."""
    if not TESTDATA.is_dir():
        pytest.skip(
            f"real test data not found at {TESTDATA} (../shared/data is not beside the repo)"
        )
    return TESTDATA


def require_tool(name: str) -> str:
    """Return the path of a command-line tool, or skip saying it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (make test installs it with apt-get)")
    return path

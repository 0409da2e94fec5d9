"""Shared fixtures.  Paths resolve relative to this file, never the working directory."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TESTDATA = SHARED_DATA / "imagedata-testdata"
DCM_QA = SHARED_DATA / "dcm_qa"


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


def read_dcm_qa(folder: str) -> list[tuple[str, Any]]:
    """Every series of ../shared/data/dcm_qa/`folder` (e.g. "dcm_qa_ts/In") as
    :func:`imagedata.collections.read_all` gives them, read quietly; skips when absent."""
    from imagedata.collections import read_all

    path = DCM_QA / folder
    if not path.is_dir():
        pytest.skip(f"dcm_qa data not found at {path} (../shared/data is not beside the repo)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_all(str(path))


def quaternion_rotation(q: tuple[float, float, float, float]) -> np.ndarray:
    """The 3x3 rotation of the quaternion (w, x, y, z), normalised first."""
    w, x, y, z = np.asarray(q) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )

"""Fixtures for the command-line tests: real DICOM (imagedata.testing) and NIfTI inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest


def one_line(text: str) -> str:
    """Assert `text` is exactly one line and return it."""
    lines = text.strip("\n").splitlines()
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{text}"
    return lines[0]


def make_series(
    shape=(3, 5, 8, 10), orientation="axial", description="dyn", number=4, dtype=np.int16
):
    """A Series with real geometry, a patient and a series; 4D shapes get a time axis."""
    from imagedata import geometry
    from imagedata.series import Series
    from imagedata.testing import ORIENTATIONS, voxel_values

    si = Series(
        voxel_values(shape).astype(dtype), input_order="time" if len(shape) == 4 else "none"
    )
    iop = ORIENTATIONS[orientation]
    si.affine = geometry.affine_from_parts((-100.0, -120.0, -50.0), iop, (0.5, 0.8), 2.0)
    if len(shape) == 4:
        si.timeline = [2.5 * i for i in range(shape[0])]
    si.setDicomAttribute("PatientName", "Doe^Jane")
    si.setDicomAttribute("PatientID", "P123")
    si.setDicomAttribute("SeriesNumber", number)
    si.setDicomAttribute("SeriesDescription", description)
    return si


@pytest.fixture
def nifti_input(tmp_path: Path) -> tuple[Path, Any]:
    """A 4D NIfTI file (time axis) and the Series written into it."""
    pytest.importorskip("nibabel", reason="NIfTI needs nibabel (imagedata[nifti])")
    si = make_series()
    path = tmp_path / "in" / "dyn.nii.gz"
    path.parent.mkdir()
    si.write(path, formats=["nifti"])
    return path, si


@pytest.fixture
def nifti_3d(tmp_path: Path) -> tuple[Path, Any]:
    """A 3D sagittal NIfTI file and its Series."""
    pytest.importorskip("nibabel", reason="NIfTI needs nibabel (imagedata[nifti])")
    si = make_series((4, 6, 7), orientation="sagittal", description="sag T2", number=5)
    path = tmp_path / "in3d" / "sag.nii.gz"
    path.parent.mkdir()
    si.write(path, formats=["nifti"])
    return path, si


def run_main(main: Any, argv: list[str], capsys: Any) -> tuple[int, str, str]:
    """Run a subcommand's main in-process; return (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def venv_script(name: str) -> Path:
    """The installed console script `name` beside the running Python."""
    import sys

    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.skip(f"console script {name} is not installed (pip install -e .)")
    return path


def run_script(name: str, *args: Any, cwd: Path | None = None) -> Any:
    """Run an installed console script; return the CompletedProcess."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["MPLBACKEND"] = "agg"
    return subprocess.run(
        [str(venv_script(name)), *[str(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
        check=False,
    )


@pytest.fixture(scope="session")
def dicom_study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A folder with three DICOM series of one patient: a 4D axial (time) and a 3D sagittal
    series in one study, and a 3D coronal series in another study.
    """
    from imagedata.testing import make_dicom_series

    root = tmp_path_factory.mktemp("dicom") / "study"  # shared: tests only read it
    dyn = make_dicom_series(
        root / "s3", (3, 5, 8, 10), order="time", SeriesNumber=3, SeriesDescription="dyn"
    )
    sag = make_dicom_series(
        root / "s4",
        (6, 8, 10),
        orientation="sagittal",
        SeriesNumber=4,
        SeriesDescription="sag T2",
        StudyInstanceUID=dyn.study_instance_uid,
    )
    cor = make_dicom_series(
        root / "s5",
        (6, 8, 10),
        orientation="coronal",
        SeriesNumber=5,
        SeriesDescription="cor",
        StudyDate="20240301",
    )
    return {"root": root, "dyn": dyn, "sag": sag, "cor": cor}

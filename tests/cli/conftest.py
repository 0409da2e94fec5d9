"""Fixtures for the command-line tests.

``npz_format`` registers a small format plugin ('npztest', files ``*.npztest``) through
the public :func:`imagedata.formats.register`, so the command-line logic (argument
handling, multi-series output, errors) is tested independently of the real readers;
the real DICOM/NIfTI round trips are tested as well where those formats are installed.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imagedata import formats
from imagedata.errors import ReadError, WriteError


class NpzFormat:
    """Stores the array and the pickled header in one ``.npztest`` file (tests only)."""

    name = "npztest"
    extensions = (".npztest",)
    extra = None

    def __init__(self) -> None:
        self.write_options: list[dict[str, Any]] = []

    def sniff(self, name: str, head: bytes) -> bool:
        return name.endswith(".npztest")

    def read(self, members: Sequence[Any], *, input_order: str, headers_only: bool, **options: Any):
        if len(members) != 1:
            raise ReadError(f"npztest reads one file, got {len(members)}")
        try:
            with np.load(members[0].path, allow_pickle=False) as f:
                data = f["data"]
                header = pickle.loads(f["header"].tobytes())
        except Exception as err:
            raise ReadError(f"{members[0].name}: not a readable npztest file ({err})") from err
        return data, header.replace(input_format="npztest")

    def write(self, si: Any, destination: Path, **options: Any) -> list[str]:
        self.write_options.append(dict(options))
        if destination.suffix != ".npztest":
            destination = destination / "Image.npztest"
        if destination.exists() and not options.get("overwrite"):
            raise WriteError(f"{destination}: the file exists; pass overwrite=True")
        destination.parent.mkdir(parents=True, exist_ok=True)
        header = np.frombuffer(pickle.dumps(si.header), dtype=np.uint8)
        with open(destination, "wb") as f:
            np.savez(f, data=np.asarray(si), header=header)
        return [str(destination)]


@pytest.fixture
def npz_format() -> Iterator[NpzFormat]:
    plugin = NpzFormat()
    formats.register(plugin)
    yield plugin
    formats._plugins.pop(plugin.name, None)


def save_npz(path: Path, si: Any) -> Path:
    """Write `si` as an npztest file (for building inputs)."""
    header = np.frombuffer(pickle.dumps(si.header), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, data=np.asarray(si), header=header)
    return path


def load_npz(path: Path) -> Any:
    from imagedata.series import Series

    return Series(str(path))


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


@pytest.fixture
def dicom_study(tmp_path: Path) -> dict[str, Any]:
    """A folder with three DICOM series of one patient: a 4D axial (time) and a 3D sagittal
    series in one study, and a 3D coronal series in another study.
    """
    from imagedata.testing import make_dicom_series

    root = tmp_path / "study"
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

"""The format registry: extensions, sniffing, and lazy plugin imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from imagedata import formats
from imagedata.errors import UnknownFormatError


@pytest.mark.parametrize("name", sorted(formats.BUILTIN))
def test_builtin_extension_table_matches_plugins(name: str) -> None:
    assert tuple(formats.get(name).extensions) == formats.BUILTIN_EXTENSIONS[name]


@pytest.mark.parametrize(
    ("file", "fmt"),
    [
        ("a.nii.gz", "nifti"),
        ("A.NII", "nifti"),
        ("x.mha", "itk"),
        ("x.nhdr", "nrrd"),
        ("x.mat", "mat"),
        ("IM1.IMA", "dicom"),
        ("b.dcm", "dicom"),
    ],
)
def test_by_extension(file: str, fmt: str) -> None:
    plugin = formats.by_extension(file)
    assert plugin is not None and plugin.name == fmt
    assert formats.by_extension("notes.txt") is None


def test_unknown_format_name() -> None:
    with pytest.raises(UnknownFormatError, match="known formats: dicom"):
        formats.get("jpeg2000-movie")


def test_reading_dicom_imports_no_other_format(tmp_path: Path) -> None:
    from imagedata.testing import make_dicom_series

    make_dicom_series(tmp_path / "d", shape=(2, 4, 4))
    code = (
        "import sys; from imagedata.series import Series; "
        f"Series({str(tmp_path / 'd')!r}); "
        "print([m for m in ('nibabel', 'SimpleITK', 'scipy', 'h5py') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

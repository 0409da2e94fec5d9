"""NRRD: conformance suite, and checks with SimpleITK and the NRRD header text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagedata.series import Series
from tests.formats.test_conformance import ORIENTATIONS, FormatConformance, read_plugin, synthetic
from tests.formats.test_itk import check_sitk_geometry

sitk = pytest.importorskip("SimpleITK")


class TestNrrdConformance(FormatConformance):
    fmt = "nrrd"
    ext = ".nrrd"


class TestNhdrConformance(FormatConformance):
    fmt = "nrrd"
    ext = ".nhdr"


def _fields(path: Path) -> dict[str, str]:
    text = path.read_bytes().split(b"\n\n")[0].decode("latin-1")
    return dict(line.split(": ", 1) for line in text.splitlines()[1:] if ": " in line)


@pytest.mark.parametrize("ext", [".nrrd", ".nhdr"])
@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_simpleitk_reads_dicom_geometry(tmp_path: Path, orientation: str, ext: str) -> None:
    si = synthetic(
        tmp_path,
        (5, 6, 9),
        orientation=ORIENTATIONS[orientation],
        pixel_spacing=(0.5, 0.8),
        slice_spacing=2.5,
    )
    out = si.write(tmp_path / f"g{ext}", formats=["nrrd"])
    check_sitk_geometry(out[-1], si)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(out[-1])), np.asarray(si))


def test_header_text_is_lps(tmp_path: Path) -> None:
    si = synthetic(
        tmp_path,
        (5, 6, 9),
        pixel_spacing=(0.5, 0.8),
        slice_spacing=2.5,
        position=(-100.0, -120.0, -50.0),
    )
    si.write(tmp_path / "h.nrrd", formats=["nrrd"])
    f = _fields(tmp_path / "h.nrrd")
    assert f["space"] == "left-posterior-superior"
    assert f["sizes"] == "9 6 5"
    dirs = [[float(v) for v in d.strip("()").split(",")] for d in f["space directions"].split()]
    np.testing.assert_allclose(dirs, [[0.8, 0, 0], [0, 0.5, 0], [0, 0, 2.5]])
    np.testing.assert_allclose(
        [float(v) for v in f["space origin"].strip("()").split(",")], [-100, -120, -50]
    )


def test_4d_is_a_vector_axis(tmp_path: Path) -> None:
    si = synthetic(tmp_path, (3, 2, 4, 5), order="b", tag_values=[0.0, 500.0, 1000.0])
    si.write(tmp_path / "b.nrrd", formats=["nrrd"])
    f = _fields(tmp_path / "b.nrrd")
    assert f["sizes"] == "3 5 4 2" and f["kinds"].split()[0] == "vector"
    img = sitk.ReadImage(str(tmp_path / "b.nrrd"))
    assert img.GetNumberOfComponentsPerPixel() == 3 and img.GetSize() == (5, 4, 2)
    check_sitk_geometry(str(tmp_path / "b.nrrd"), si)
    arr = sitk.GetArrayFromImage(img)  # (slice, row, column, b)
    np.testing.assert_array_equal(np.moveaxis(arr, -1, 0), np.asarray(si))
    back = read_plugin(tmp_path / "b.nrrd", "nrrd")
    np.testing.assert_allclose(back.bvalues, [0.0, 500.0, 1000.0])


def test_compressed_detached(tmp_path: Path) -> None:
    si = Series(np.arange(60, dtype=np.uint16).reshape(3, 4, 5))
    out = si.write(tmp_path / "c.nhdr", formats=["nrrd"], compress=True)
    assert sorted(Path(p).name for p in out) == ["c.nhdr", "c.raw.gz"]
    np.testing.assert_array_equal(np.asarray(read_plugin(tmp_path / "c.nhdr", "nrrd")), si)


def test_dwi_convention_keys(tmp_path: Path) -> None:
    from imagedata.axis import tag_axis

    si = synthetic(tmp_path, (3, 2, 4, 5), order="b", tag_values=[0.0, 500.0, 1000.0])
    dti = np.array([[0.0, 0, 0, 0], [500.0, 1, 0, 0], [1000.0, 0, 0.6, 0.8]])
    si.axes = (tag_axis("dti", dti), *si.axes[1:])
    si.write(tmp_path / "d.nrrd", formats=["nrrd"], embed_header=False)
    text = (tmp_path / "d.nrrd").read_bytes().split(b"\n\n")[0].decode()
    assert "modality:=DWMRI" in text and "DWMRI_b-value:=1000" in text
    img = sitk.ReadImage(str(tmp_path / "d.nrrd"))
    g1 = [float(v) for v in img.GetMetaData("DWMRI_gradient_0001").split()]
    np.testing.assert_allclose(g1, [np.sqrt(0.5), 0, 0], atol=1e-7)
    # a file with only the DWI keys (as 3D Slicer writes) gives a dti axis
    for key in [k for k in img.GetMetaDataKeys() if k.startswith("imagedata_")]:
        img.EraseMetaData(key)
    sitk.WriteImage(img, str(tmp_path / "slicer.nrrd"))
    back = read_plugin(tmp_path / "slicer.nrrd", "nrrd")
    np.testing.assert_allclose(back.bvalues, [0.0, 500.0, 1000.0], atol=1e-4)
    np.testing.assert_allclose(back.bvectors, dti[:, 1:], atol=1e-6)

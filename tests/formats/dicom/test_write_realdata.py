"""The DICOM writer on real scanner data (Siemens phantom series in ../shared/data).

Real templates carry hundreds of attributes, private tags and vendor quirks: the
output must still be valid (dciodvfy, dcentvfy), read back identical, and dcm2niix
must convert it to the same NIfTI as the original files.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from imagedata.axis import tag_axis
from imagedata.formats.dicom.writer import write_series
from imagedata.series import Series
from tests.conftest import require_tool
from tests.formats.dicom._helpers import dcentvfy, dciodvfy, make_series

SETS = [
    ("time_all", "time"),
    ("sag_ap.zip", "none"),
    ("sag_hf.zip", "none"),
    ("cor_hf.zip", "none"),
    ("cor_rl.zip", "none"),
    ("tra_rl.zip", "none"),
]


def _dcm2niix(src: Path, out: Path) -> tuple[np.ndarray, np.ndarray, Path]:
    nib = pytest.importorskip("nibabel")
    out.mkdir()
    res = subprocess.run(
        ["dcm2niix", "-z", "n", "-f", "vol", "-o", str(out), str(src)],
        capture_output=True,
        text=True,
        check=False,
    )
    niis = sorted(out.glob("*.nii"))
    assert res.returncode == 0 and len(niis) == 1, res.stdout + res.stderr
    img = nib.load(niis[0])
    return np.asarray(img.dataobj), img.affine, niis[0]


@pytest.mark.parametrize(("name", "order"), SETS)
def test_real_series_rewritten_valid_and_identical(
    testdata: Path, tmp_path: Path, name: str, order: str
) -> None:
    require_tool("dciodvfy")
    require_tool("dcm2niix")
    src = testdata / "dicom" / name
    a = Series(src, input_order=order)
    files = [Path(f) for f in a.write(tmp_path / "out", formats=["dicom"])]
    for f in files:
        assert dciodvfy(f) == [], f
    assert dcentvfy(files) == []
    b = Series(tmp_path / "out", input_order=order)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_allclose(a.affine, b.affine, atol=1e-9)
    if order == "time":
        np.testing.assert_allclose(b.timeline, [0.0, 2.9875, 5.975], atol=1e-6)
    # dcm2niix converts our files exactly like the scanner's files
    if name.endswith(".zip"):
        import zipfile

        zipfile.ZipFile(src).extractall(tmp_path / "orig")
        src = tmp_path / "orig"
    ref, ref_affine, _ = _dcm2niix(src, tmp_path / "nref")
    ours, our_affine, _ = _dcm2niix(tmp_path / "out", tmp_path / "nours")
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_allclose(our_affine, ref_affine, atol=1e-4)


def test_real_dwi_b_values_survive(testdata: Path, tmp_path: Path) -> None:
    require_tool("dcm2niix")
    a = Series(testdata / "dicom" / "dwi", input_order="b")
    a.write(tmp_path / "out", formats=["dicom"])
    b = Series(tmp_path / "out", input_order="b")
    np.testing.assert_array_equal(b.bvalues, [50.0, 400.0, 800.0])
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    _, _, nii = _dcm2niix(tmp_path / "out", tmp_path / "n")
    bval = np.loadtxt(nii.with_suffix(".bval"))
    np.testing.assert_array_equal(bval, [50.0, 400.0, 800.0])


def test_dcm2niix_bvecs_follow_the_fsl_rule(tmp_path: Path) -> None:
    """Our DiffusionGradientOrientation (LPS) gives dcm2niix's bvec = U^T g (GEOMETRY.md)."""
    require_tool("dcm2niix")
    si, _ = make_series(tmp_path, (4, 3, 6, 8), order="b", orientation="sagittal")
    g = np.array([[0, 0, 0], [1, 0, 0], [0, 0.6, 0.8], [0, 1, 0]], float)
    dti = np.c_[[0, 1000, 1000, 1000], g]
    si.header = si.header.with_axes((tag_axis("dti", dti), *si.header.axes[1:]))
    write_series(si, tmp_path / "out")
    _, affine, nii = _dcm2niix(tmp_path / "out", tmp_path / "n")
    np.testing.assert_array_equal(np.loadtxt(nii.with_suffix(".bval")), dti[:, 0])
    lps = np.diag([-1.0, -1.0, 1.0]) @ affine[:3, :3]
    u = lps / np.linalg.norm(lps, axis=0)
    want = (u.T @ g.T).T
    if np.linalg.det(u) > 0:
        want[:, 0] *= -1
    np.testing.assert_allclose(np.loadtxt(nii.with_suffix(".bvec")).T, want, atol=1e-4)


@pytest.mark.parametrize("enhanced", [False, True])
def test_real_philips_enhanced_template(tmp_path: Path, enhanced: bool) -> None:
    """A real Philips Enhanced MR (nibabel test data, zeroed pixels) rewritten both ways."""
    require_tool("dciodvfy")
    import gzip

    nib = pytest.importorskip("nibabel")
    src = Path(nib.__file__).parent / "nicom" / "tests" / "data" / "philips_mprage.dcm.gz"
    if not src.exists():
        pytest.skip(f"{src} not installed")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "mprage.dcm").write_bytes(gzip.decompress(src.read_bytes()))
    a = Series(tmp_path / "in")
    files = a.write(tmp_path / "out", formats=["dicom"], enhanced=enhanced)
    assert len(files) == (1 if enhanced else a.shape[0])
    for f in files[:: max(1, len(files) // 5)]:
        assert dciodvfy(Path(f)) == [], f
    b = Series(tmp_path / "out")
    assert b.shape == a.shape
    np.testing.assert_allclose(b.affine, a.affine, atol=1e-9)
    assert b.getDicomAttribute("PatientID") == a.getDicomAttribute("PatientID")

"""One round-trip conformance suite that every file format subclasses.

A subclass sets ``fmt`` (the format name) and ``ext`` (the file extension to write)
and inherits every test: values and dtype, geometry for axial, sagittal, coronal,
oblique and tilted series, tag axes (uniform and uneven time, b-values), the DICOM
header, the path rules, overwrite protection, and errors on damaged files.

Also holds helpers the format tests share (``dicom_series`` builds a Series from
DICOM files with pydicom only, so the tests do not depend on imagedata's DICOM reader).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagedata import geometry
from imagedata.archives import Member
from imagedata.axis import tag_axis
from imagedata.errors import ReadError, UnknownFormatError, WriteError
from imagedata.formats import get
from imagedata.header import TEMPLATE_KEYWORDS
from imagedata.series import Series
from imagedata.testing import make_dicom_series, oblique_orientation

ORIENTATIONS = {
    "axial": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    "sagittal": (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
    "coronal": (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
    "oblique": oblique_orientation(25.0, (1.0, 0.3, 0.2)),
}
TILT = (1.0, 0.0, 0.0, 0.0, np.cos(np.deg2rad(20)), -np.sin(np.deg2rad(20)))

#: Attributes a round trip must keep.
KEPT = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "FrameOfReferenceUID",
    "Modality",
    "Manufacturer",
    "EchoTime",
    "RepetitionTime",
    "FlipAngle",
)


# --- helpers ------------------------------------------------------------------------------


def template_of(ds: pydicom.Dataset) -> pydicom.Dataset:
    """The attributes shared by all images (what a DICOM reader puts in the template)."""
    out = pydicom.Dataset()
    keep = set(TEMPLATE_KEYWORDS) | {
        "SeriesInstanceUID",
        "SeriesNumber",
        "SeriesDescription",
        "SOPClassUID",
        "ImageType",
        "PatientSex",
        "ProtocolName",
        "SequenceName",
        "InstitutionName",
    }
    for elem in ds:
        if elem.keyword in keep:
            out.add(elem)
    return out


def dicom_series(files: list[Path] | list[pydicom.Dataset]) -> Series:
    """A 3D Series from single-frame DICOM files with pydicom only (sorted by n . S)."""
    dss = [f if isinstance(f, pydicom.Dataset) else pydicom.dcmread(f) for f in files]
    iop = np.asarray(dss[0].ImageOrientationPatient, dtype=np.float64)
    n = geometry.slice_normal(iop)
    dss.sort(key=lambda d: float(np.dot(n, np.asarray(d.ImagePositionPatient, dtype=np.float64))))
    positions = np.array([np.asarray(d.ImagePositionPatient, dtype=np.float64) for d in dss])
    data = np.stack([d.pixel_array for d in dss])
    si = Series(data)
    si.affine = geometry.affine_from_positions(
        positions, iop, [float(v) for v in dss[0].PixelSpacing]
    )
    si.header = si.header.replace(template=template_of(dss[0]), input_format="dicom")
    return si


def synthetic(tmp: Path, shape: tuple[int, ...] = (5, 6, 7), **kw: Any) -> Series:
    """A Series with a real DICOM template, from imagedata.testing (independent of the reader)."""
    truth = make_dicom_series(tmp / "dicom", shape, shuffle=False, **kw)
    si = Series(np.asarray(truth.data))
    si.affine = truth.affine
    header = si.header.replace(template=template_of(pydicom.dcmread(truth.files[0])))
    if len(shape) == 4:
        header = header.with_axes((tag_axis(truth.order, truth.tag_values), *header.axes[1:]))
        header = header.replace(input_order=truth.order)
    si.header = header
    return si


def read_plugin(path: str | Path, fmt: str, **options: Any) -> Series:
    """Read `path` with the plugin `fmt` directly (not through sniffing)."""
    p = Path(path)
    data, header = get(fmt).read(
        [Member(str(p), p)],
        input_order=options.pop("input_order", "auto"),
        headers_only=options.pop("headers_only", False),
        **options,
    )
    si = Series(data)
    si.header = header
    return si


def _contents(path: Path) -> dict[str, bytes]:
    """The bytes of a file, or of every file in a folder, by name."""
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    return {str(f.relative_to(path.parent)): f.read_bytes() for f in files if f.is_file()}


def voxel_centres_lps(affine: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """World positions of every voxel centre of a (slice, row, column) grid."""
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    return geometry.voxel_to_world(affine, idx.reshape(-1, 3))


# --- the suite ------------------------------------------------------------------------------


class FormatConformance:
    """Round-trip conformance tests; subclasses set ``fmt`` and ``ext``."""

    fmt: ClassVar[str] = ""
    ext: ClassVar[str] = ""
    #: dtypes the format must keep exactly.
    dtypes: ClassVar[tuple[str, ...]] = ("uint8", "int16", "uint16", "int32", "float32", "float64")
    #: dtypes the format stores quantised (DICOM: 16-bit integers with a slope and an
    #: intercept); they come back as floats within half a step, ``(max - min) / 131070``,
    #: and the write warns.
    quantised: ClassVar[tuple[str, ...]] = ()
    #: dtypes whose values come back exactly in another dtype (DICOM: 16-bit integers).
    stored_as: ClassVar[dict[str, str]] = {}
    #: Write options that keep the series' identity (DICOM: ``keep_uid=True``).
    identity_options: ClassVar[dict[str, Any]] = {}
    #: Attributes a read adds to the template (keyword, or the tag of a private one).
    template_added: ClassVar[frozenset[str]] = frozenset()

    def write_read(self, si: Series, folder: Path, name: str = "img", **options: Any) -> Series:
        out = si.write(folder / f"{name}{self.ext}", formats=[self.fmt], **options)
        return self.read_back(out)

    def read_back(self, written: list[str], **options: Any) -> Series:
        """Read what a write returned with the plugin (one file; DICOM overrides: a folder)."""
        return read_plugin(self.image_file(written), self.fmt, **options)

    def image_file(self, written: list[str]) -> str:
        return next(p for p in written if p.lower().endswith(self.ext))

    # values and dtype
    @pytest.mark.parametrize("dtype", ["uint8", "int16", "uint16", "int32", "float32", "float64"])
    def test_values_and_dtype(self, tmp_path: Path, dtype: str) -> None:
        if dtype in self.quantised:
            self.check_quantised(tmp_path, dtype)
            return
        if dtype not in self.dtypes and dtype not in self.stored_as:
            pytest.skip(f"{self.fmt} does not hold {dtype}")
        rng = np.random.default_rng(1)
        data = (rng.random((4, 6, 9)) * 100).astype(dtype)
        back = self.write_read(Series(data), tmp_path)
        assert back.dtype == np.dtype(self.stored_as.get(dtype, dtype))
        assert back.shape == data.shape
        np.testing.assert_array_equal(np.asarray(back), data)

    def check_quantised(self, tmp_path: Path, dtype: str) -> None:
        """Values stored as 16-bit integers with a slope: within half a step, with a warning."""
        rng = np.random.default_rng(1)
        data = (rng.random((4, 6, 9)) * 100 - 30).astype(dtype)
        with pytest.warns(UserWarning, match="quantised"):
            back = self.write_read(Series(data), tmp_path)
        assert back.shape == data.shape
        assert back.dtype.kind == "f"
        step = (float(data.max()) - float(data.min())) / 65535
        error = np.abs(np.asarray(back, dtype=np.float64) - data.astype(np.float64))
        ulp = float(np.spacing(back.dtype.type(np.abs(data).max())))  # of the dtype read back
        assert 0 < error.max() <= step / 2 * (1 + 1e-6) + ulp

    def test_2d_series_stays_2d(self, tmp_path: Path) -> None:
        si = Series(np.arange(6 * 9, dtype=np.int16).reshape(6, 9))
        back = self.write_read(si, tmp_path)
        assert back.shape == (6, 9)
        np.testing.assert_array_equal(np.asarray(back), np.asarray(si))

    # geometry
    @pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
    def test_geometry(self, tmp_path: Path, orientation: str) -> None:
        si = synthetic(
            tmp_path,
            orientation=ORIENTATIONS[orientation],
            pixel_spacing=(0.5, 0.8),
            slice_spacing=2.5,
        )
        back = self.write_read(si, tmp_path)
        np.testing.assert_allclose(back.affine, si.affine, atol=1e-4)
        np.testing.assert_allclose(back.spacing, si.spacing, atol=1e-5)
        got = voxel_centres_lps(back.affine, back.shape)
        want = voxel_centres_lps(si.affine, si.shape)
        np.testing.assert_allclose(got, want, atol=1e-3)
        np.testing.assert_array_equal(np.asarray(back), np.asarray(si))

    def test_tilted_affine_is_kept(self, tmp_path: Path) -> None:
        si = synthetic(tmp_path, orientation=TILT, slice_spacing=(0.0, 0.0, 2.5))
        assert geometry.is_tilted(si.affine)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            back = self.write_read(si, tmp_path)
        np.testing.assert_allclose(back.affine, si.affine, atol=1e-4)
        assert back.spacing[0] == pytest.approx(2.5 * np.cos(np.deg2rad(20)), abs=1e-4)

    def test_uneven_slices_warn_and_keep_positions(self, tmp_path: Path) -> None:
        si = synthetic(tmp_path, (4, 5, 6))
        pos = si.header.slice_positions().copy()
        pos[3] += 2.0 * geometry.normal(si.affine)
        si.header = si.header.with_positions(pos)
        assert si.header.positions is not None
        with pytest.warns(UserWarning, match="not evenly spaced"):
            back = self.write_read(si, tmp_path)
        np.testing.assert_allclose(back.header.slice_positions(), pos, atol=1e-4)

    # tags
    def test_uniform_time_axis(self, tmp_path: Path) -> None:
        si = synthetic(tmp_path, (3, 4, 5, 6), order="time", tag_values=[0.0, 2.5, 5.0])
        back = self.write_read(si, tmp_path)
        assert back.header.axis_names == ("time", "slice", "row", "column")
        np.testing.assert_allclose(back.timeline, [0.0, 2.5, 5.0], atol=1e-6)
        np.testing.assert_array_equal(np.asarray(back), np.asarray(si))

    @pytest.mark.parametrize("embed", [True, False])
    def test_uneven_time_axis_keeps_values(self, tmp_path: Path, embed: bool) -> None:
        si = synthetic(tmp_path, (3, 2, 5, 6), order="time", tag_values=[0.0, 1.0, 3.5])
        back = self.write_read(si, tmp_path, embed_header=embed)
        self.check_uneven_time(back, embed)

    def check_uneven_time(self, back: Series, embed: bool) -> None:
        """With the embedded header (and wherever the format stores values) they come back."""
        np.testing.assert_allclose(back.timeline, [0.0, 1.0, 3.5], atol=1e-6)

    def test_b_value_axis(self, tmp_path: Path) -> None:
        si = synthetic(tmp_path, (3, 2, 5, 6), order="b", tag_values=[0.0, 500.0, 1000.0])
        back = self.write_read(si, tmp_path)
        np.testing.assert_allclose(back.bvalues, [0.0, 500.0, 1000.0])
        assert back.input_order == "b"

    # header
    def test_dicom_header_survives(self, tmp_path: Path) -> None:
        si = synthetic(tmp_path, (2, 4, 4, 5), order="time")
        back = self.write_read(si, tmp_path, **self.identity_options)
        for kw in KEPT:
            assert back.getDicomAttribute(kw) == si.getDicomAttribute(kw), kw
        names = [elem.keyword or str(elem.tag) for elem in back.dicomTemplate]
        assert set(names) - {elem.keyword for elem in si.dicomTemplate} <= self.template_added
        kept = [elem.tag for elem in back.dicomTemplate if elem.tag in si.dicomTemplate]
        assert kept == list(si.dicomTemplate.keys())
        for elem in si.dicomTemplate:
            assert back.dicomTemplate[elem.tag].value == elem.value, elem.keyword
        assert back.input_format == self.fmt

    def test_headers_only(self, tmp_path: Path) -> None:
        si = synthetic(tmp_path, (3, 4, 5))
        out = si.write(tmp_path / f"h{self.ext}", formats=[self.fmt])
        back = self.read_back(out, headers_only=True)
        assert back.shape == si.shape
        np.testing.assert_allclose(back.affine, si.affine, atol=1e-4)
        assert back.getDicomAttribute("PatientID") == si.getDicomAttribute("PatientID")

    # paths and safety
    def test_folder_gets_default_name(self, tmp_path: Path) -> None:
        si = Series(np.zeros((2, 3, 4), dtype=np.int16))
        out = si.write(tmp_path / "out", formats=[self.fmt])
        default = {
            "dicom": "Image_00000.dcm",
            "nifti": "Image.nii.gz",
            "itk": "Image.mha",
            "nrrd": "Image.nrrd",
            "mat": "Image.mat",
        }[self.fmt]
        assert (tmp_path / "out" / default).is_file()
        assert str(tmp_path / "out" / default) in out

    def test_existing_file_needs_overwrite(self, tmp_path: Path) -> None:
        si = Series(np.zeros((2, 3, 4), dtype=np.int16))
        target = tmp_path / f"x{self.ext}"
        si.write(target, formats=[self.fmt])
        before = _contents(target)
        with pytest.raises(WriteError, match="overwrite=True"):
            (si + 1).write(target, formats=[self.fmt])
        assert _contents(target) == before
        (si + 1).write(target, formats=[self.fmt], overwrite=True)
        assert np.all(np.asarray(self.read_back([str(target)])) == 1)

    def test_failed_write_leaves_nothing(self, tmp_path: Path) -> None:
        si = Series(np.zeros((2, 3, 4), dtype=np.int16))
        with pytest.raises(WriteError):
            si.astype("U3").write(tmp_path / f"bad{self.ext}", formats=[self.fmt])
        assert list(tmp_path.iterdir()) == []

    def test_truncated_file_is_read_error(self, tmp_path: Path) -> None:
        si = synthetic(tmp_path, (4, 16, 16))
        written = si.write(tmp_path / f"t{self.ext}", formats=[self.fmt])
        out = self.image_file(written)
        data = Path(out).read_bytes()
        Path(out).write_bytes(data[: len(data) * 2 // 3])
        with pytest.raises(ReadError, match=re.escape(Path(out).name)):
            self.read_back(written)

    def test_garbage_is_not_sniffed(self, tmp_path: Path) -> None:
        plugin = get(self.fmt)
        assert not plugin.sniff("x.bin", b"\x00" * 348)
        assert not plugin.sniff("x.bin", b"hello world" * 40)

    def test_sniffs_own_files(self, tmp_path: Path) -> None:
        out = self.image_file(
            Series(np.zeros((2, 3, 4), np.int16)).write(
                tmp_path / f"s{self.ext}", formats=[self.fmt]
            )
        )
        head = Path(out).read_bytes()[:348]
        assert get(self.fmt).sniff(out, head)
        others = [get(n) for n in ("dicom", "nifti", "itk", "nrrd", "mat") if n != self.fmt]
        assert not any(p.sniff("noext", head) for p in others)


def test_unknown_extension_lists_formats(tmp_path: Path) -> None:
    from imagedata.loadsave import read

    bad = tmp_path / "x.xyz"
    bad.write_bytes(b"not an image" * 40)
    with pytest.raises(UnknownFormatError, match="nifti") as err:
        read(str(bad))
    assert "itk" in str(err.value) and "mat" in str(err.value)


# --- property test: geometry through nibabel and SimpleITK in memory ------------------------

_angles = st.floats(-np.pi, np.pi, allow_nan=False)
_spacing = st.floats(0.1, 5.0, allow_nan=False)
_position = st.floats(-300.0, 300.0, allow_nan=False)


def _rotation(a: float, b: float, c: float) -> np.ndarray:
    ca, sa, cb, sb, cc, sc = np.cos(a), np.sin(a), np.cos(b), np.sin(b), np.cos(c), np.sin(c)
    rz = np.array([[ca, -sa, 0], [sa, ca, 0], [0, 0, 1]])
    ry = np.array([[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]])
    rx = np.array([[1, 0, 0], [0, cc, -sc], [0, sc, cc]])
    return rz @ ry @ rx


@settings(max_examples=40, deadline=None)
@given(
    _angles,
    _angles,
    _angles,
    _spacing,
    _spacing,
    _spacing,
    _position,
    _position,
    _position,
    st.booleans(),
)
def test_geometry_survives_nibabel_and_simpleitk(
    a: float,
    b: float,
    c: float,
    dr: float,
    dc: float,
    ds: float,
    x: float,
    y: float,
    z: float,
    flip: bool,
) -> None:
    pytest.importorskip("nibabel")
    pytest.importorskip("SimpleITK")
    from imagedata.formats.itk import to_sitk
    from imagedata.formats.nifti import to_nibabel

    rot = _rotation(a, b, c)
    iop = np.concatenate([rot[:, 0], rot[:, 1]])
    step = -ds if flip else ds
    si = Series(np.zeros((3, 4, 5), np.int16))
    si.affine = geometry.affine_from_parts((x, y, z), iop, (dr, dc), step)
    corners = np.array([[k, r, cc] for k in (0, 2) for r in (0, 3) for cc in (0, 4)])
    want = geometry.voxel_to_world(si.affine, corners)
    img = to_sitk(si, embed_header=False)
    got = np.array(
        [img.TransformIndexToPhysicalPoint([int(cc), int(r), int(k)]) for k, r, cc in corners]
    )
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(Series.from_sitk(img).affine, si.affine, atol=1e-9)
    nimg = to_nibabel(si, embed_header=False)
    ras = np.array([nimg.affine @ [cc, r, k, 1.0] for k, r, cc in corners])[:, :3]
    np.testing.assert_allclose(ras * [-1, -1, 1], want, atol=1e-4)
    np.testing.assert_allclose(Series.from_nibabel(nimg).affine, si.affine, atol=1e-4)


@pytest.mark.parametrize(
    "fmt,ext", [("nifti", ".nii.gz"), ("itk", ".mha"), ("nrrd", ".nrrd"), ("mat", ".mat")]
)
def test_real_siemens_header_round_trip(testdata: Path, tmp_path: Path, fmt: str, ext: str) -> None:
    """Every template attribute (private ones too) and the per-slice times come back."""
    si = Series(str(testdata / "dicom" / "time_all"), input_order="time")
    back = read_plugin(si.write(tmp_path / f"x{ext}", formats=[fmt])[0], fmt)
    assert len(back.dicomTemplate) == len(si.dicomTemplate) > 60
    for elem in si.dicomTemplate:
        assert back.dicomTemplate[elem.tag].value == elem.value, elem.tag
    np.testing.assert_array_equal(back.axes[0].values, si.axes[0].values)
    assert si.axes[0].slice_values is not None
    np.testing.assert_array_equal(back.axes[0].slice_values, si.axes[0].slice_values)
    np.testing.assert_allclose(back.affine, si.affine, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(back), np.asarray(si))

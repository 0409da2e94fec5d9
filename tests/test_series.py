"""The Series array: geometry under slicing, setters, numpy interplay, pickling, errors."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagedata import geometry
from imagedata.axis import tag_axis
from imagedata.errors import GeometryError, HeaderError
from imagedata.header import Header
from imagedata.series import Series
from tests.conftest import quaternion_rotation


def _series(shape: tuple[int, ...] = (6, 5, 7), iop: Any = (1, 0, 0, 0, 1, 0)) -> Series:
    si = Series(np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape))
    si.affine = geometry.affine_from_parts((-100, -120, -50), iop, (0.5, 0.8), 2.0)
    return si


# --- the README example and imagedata 3.x attribute meanings -------------------------


def test_readme_example() -> None:
    si = Series(np.zeros((16, 160, 160), dtype=np.uint16))
    si.spacing = (2.0, 1.3125, 1.3125)
    assert si[5, ...].sliceLocations.tolist() == [si.sliceLocations[5]] == [10.0]
    np.testing.assert_allclose(si.spacing, (2.0, 1.3125, 1.3125))
    assert si.dtype == np.uint16 and si.shape == (16, 160, 160)


def test_compat_attributes_axial_vector1() -> None:
    si = _series((10, 4, 6))
    np.testing.assert_allclose(si.spacing, (2.0, 0.5, 0.8))
    np.testing.assert_allclose(si.orientation, (0, 0, 1, 0, 1, 0))
    np.testing.assert_allclose(si.imagePositions[3], (-50 + 6, -120, -100))
    np.testing.assert_allclose(si.sliceLocations, -50 + 2 * np.arange(10))
    t = si.transformationMatrix
    np.testing.assert_allclose(t @ (3, 2, 1, 1), [-44, -119, -99.2, 1])
    np.testing.assert_allclose(si.affine @ (3, 2, 1, 1), [-99.2, -119, -44, 1])


# --- slicing keeps every kept voxel where it was ---------------------------------------


def _world(si: Series, orig_index: np.ndarray) -> np.ndarray:
    return geometry.voxel_to_world(si.affine, orig_index)


def _check_voxels(si: Series, key: Any) -> None:
    """Every voxel of si[key] lies at the LPS position it had in si."""
    out = si[key]
    grids = np.indices(si.shape[-3:])
    orig = np.stack([g[key] for g in grids], axis=-1)
    assert isinstance(out, Series)
    names = out.header.axis_names
    new_idx = np.zeros((*out.shape, 3))
    for j, name in enumerate(("slice", "row", "column")):
        if name in names:
            d = names.index(name)
            shape = [1] * out.ndim
            shape[d] = out.shape[d]
            new_idx[..., j] = np.arange(out.shape[d]).reshape(shape)
    np.testing.assert_allclose(
        geometry.voxel_to_world(out.affine, new_idx), _world(si, orig), atol=1e-9
    )
    # the derived views agree with the affine
    pos = np.array([out.imagePositions[k][::-1] for k in range(out.slices)])
    np.testing.assert_allclose(pos, geometry.slice_positions(out.affine, out.slices), atol=1e-9)
    np.testing.assert_allclose(out.sliceLocations, pos @ geometry.normal(out.affine), atol=1e-9)


def _index(n: int) -> st.SearchStrategy[Any]:
    ints = st.integers(-n, n - 1)
    bounds = st.one_of(st.none(), st.integers(-n - 2, n + 2))
    steps = st.one_of(st.none(), st.integers(-3, 3).filter(lambda s: s != 0))
    return st.one_of(ints, st.builds(slice, bounds, bounds, steps))


@st.composite
def _cases(draw: st.DrawFn) -> tuple[Series, tuple[Any, ...]]:
    shape = tuple(draw(st.integers(1, 6)) for _ in range(3))
    q = draw(
        st.tuples(*[st.floats(-1, 1) for _ in range(4)]).filter(lambda v: np.linalg.norm(v) > 0.1)
    )
    rot = quaternion_rotation(q)
    iop = np.concatenate([rot[:, 0], rot[:, 1]])
    spacing = [draw(st.floats(0.1, 5.0)) for _ in range(3)]
    position = [draw(st.floats(-500, 500)) for _ in range(3)]
    si = Series(np.zeros(shape, dtype=np.int16))
    si.affine = geometry.affine_from_parts(position, iop, spacing[1:], spacing[0])
    key = tuple(draw(_index(n)) for n in shape)
    return si, key


@settings(max_examples=150, deadline=None)
@given(_cases())
def test_slicing_keeps_voxel_positions(case: tuple[Series, tuple[Any, ...]]) -> None:
    si, key = case
    if 0 in si[key].shape:
        return
    if np.ndim(si[key]) == 0:
        return
    _check_voxels(si, key)


@settings(max_examples=60, deadline=None)
@given(_cases(), st.integers(0, 2))
def test_repeated_slicing_composes(case: tuple[Series, tuple[Any, ...]], axis: int) -> None:
    si, _ = case
    n = si.shape[axis]
    key1: list[Any] = [slice(None)] * 3
    key1[axis] = slice(None, None, -1)
    once = si[tuple(key1)][tuple(key1)]
    np.testing.assert_allclose(once.affine, si.affine, atol=1e-9)
    key2: list[Any] = [slice(None)] * 3
    key2[axis] = slice(n - 1, None, -1)
    np.testing.assert_allclose(si[tuple(key2)].affine, si[tuple(key1)].affine, atol=1e-9)


@pytest.mark.parametrize(
    "key",
    [
        5,
        -1,
        (slice(1, 5), slice(2, 4), slice(3, 6)),
        (slice(None, None, -1), Ellipsis),
        (Ellipsis, slice(None, None, 2)),
        (slice(None, None, -2), slice(4, 0, -1), 3),
        (2, Ellipsis, 1),
        (Ellipsis, 3),
    ],
)
def test_slicing_oblique_examples(key: Any) -> None:
    rot = quaternion_rotation((0.9, 0.2, -0.3, 0.1))
    iop = np.concatenate([rot[:, 0], rot[:, 1]])
    _check_voxels(_series((8, 6, 7), iop), key)


def test_integer_index_gives_2d_with_position() -> None:
    si = _series((8, 6, 7))
    s5 = si[5, ...]
    assert s5.shape == (6, 7)
    assert s5.header.axis_names == ("row", "column")
    np.testing.assert_allclose(s5.sliceLocations, [si.sliceLocations[5]])
    np.testing.assert_allclose(s5.imagePositions[0], si.imagePositions[5])


def test_crop_moves_image_position() -> None:
    si = _series((8, 6, 7))
    crop = si[:, 2:5, 3:6]
    # first voxel of the crop is (row 2, column 3) of the original
    expected = si.affine @ (0, 2, 3, 1)
    np.testing.assert_allclose(crop.imagePositions[0][::-1], expected[:3])


def test_newaxis_and_ellipsis() -> None:
    si = _series((4, 5, 6))
    out = si[np.newaxis, ...]
    assert out.shape == (1, 4, 5, 6)
    assert out.header.axis_names[1:] == ("slice", "row", "column")
    np.testing.assert_allclose(out.affine, si.affine)


def test_uneven_positions_follow_slicing() -> None:
    si = _series((5, 3, 3))
    si.imagePositions = {k: np.array([z, -120.0, -100.0]) for k, z in enumerate((0, 2, 4, 7, 9))}
    assert si.header.positions is not None
    np.testing.assert_allclose(si.sliceLocations, (0, 2, 4, 7, 9))
    np.testing.assert_allclose(si[3:].sliceLocations, (7, 9))
    np.testing.assert_allclose(si[::-1].sliceLocations, (9, 7, 4, 2, 0))
    np.testing.assert_allclose(si[3].sliceLocations, (7,))


# --- tag axes ---------------------------------------------------------------------------


def _time_series() -> Series:
    si = Series(np.arange(5 * 4 * 3 * 3, dtype=np.int16).reshape(5, 4, 3, 3), input_order="time")
    si.timeline = [0.0, 2.5, 5.0, 7.5, 10.0]
    return si


def test_tag_slicing_follows() -> None:
    si = _time_series()
    assert si.input_order == "time"
    np.testing.assert_allclose(si[1:4].timeline, (0.0, 2.5, 5.0))
    np.testing.assert_allclose(si[::-2].timeline, (0.0, -5.0, -10.0))
    np.testing.assert_allclose(si[[0, 4]].timeline, (0.0, 10.0))
    vol = si[2]
    assert vol.header.axis_names == ("slice", "row", "column")
    with pytest.raises(HeaderError, match="no time axis"):
        _ = vol.timeline


def test_slice_values_follow_slice_indexing() -> None:
    si = _time_series()
    per_slice = np.arange(5)[:, None] * 2.5 + np.arange(4)[None, :] * 0.1
    si.axes = (tag_axis("time", per_slice[:, 0], per_slice), *si.axes[1:])
    np.testing.assert_allclose(si[:, 2].tags[0], per_slice[:, 2])
    np.testing.assert_allclose(si.tags[3], per_slice[:, 3])


def test_bvalues() -> None:
    si = Series(np.zeros((3, 2, 4, 4)), input_order="b")
    si.bvalues = [0, 500, 1000]
    np.testing.assert_allclose(si.bvalues, (0, 500, 1000))
    np.testing.assert_allclose(si[1:].bvalues, (500, 1000))
    with pytest.raises(HeaderError, match="expected 3 b values"):
        si.bvalues = [0, 1]


# --- setters keep one geometry -----------------------------------------------------------


def test_setters_are_consistent() -> None:
    si = _series((4, 5, 6))
    si.spacing = (3.0, 0.7, 0.9)
    np.testing.assert_allclose(si.spacing, (3.0, 0.7, 0.9))
    np.testing.assert_allclose(geometry.pixel_spacing(si.affine), (0.7, 0.9))
    si.orientation = (0, 1, 0, -1, 0, 0)  # X = (0,1,0)... in (z,y,x) order
    np.testing.assert_allclose(si.orientation, (0, 1, 0, -1, 0, 0))
    np.testing.assert_allclose(si.spacing, (3.0, 0.7, 0.9))
    tm = si.transformationMatrix
    si2 = Series(np.zeros((4, 5, 6)))
    si2.transformationMatrix = tm
    np.testing.assert_allclose(si2.affine, si.affine)
    si2.sliceLocations = [1.0, 2.0, 3.0, 4.0]
    np.testing.assert_allclose(si2.sliceLocations, (1, 2, 3, 4))
    np.testing.assert_allclose(si2.spacing[0], 1.0)
    si2.imagePositions = {k: (10.0 * k, 1.0, 2.0) for k in range(4)}
    np.testing.assert_allclose(si2.imagePositions[2], (20, 1, 2))
    np.testing.assert_allclose(si2.affine[:3, 3], (2, 1, 0))


@pytest.mark.parametrize(
    ("attr", "value", "message"),
    [
        ("spacing", (1.0, 2.0), "three positive numbers"),
        ("spacing", (1.0, -2.0, 1.0), "three positive numbers"),
        ("orientation", (0, 0, 1, 0, 0, 1), "not orthogonal"),
        ("orientation", (0, 0, 1, 0, 1), "6 values"),
        ("affine", np.diag([1.0, 0.0, 1.0, 1.0]), "zero-length row axis"),
        ("sliceLocations", (1.0, 2.0), "expected 4 slice locations"),
        ("imagePositions", [(0, 0, 0)], "expected 4 slice positions"),
    ],
)
def test_bad_geometry_values(attr: str, value: Any, message: str) -> None:
    si = _series((4, 5, 6))
    before = si.affine
    with pytest.raises(GeometryError, match=message):
        setattr(si, attr, value)
    np.testing.assert_array_equal(si.affine, before)


# --- DICOM attributes ---------------------------------------------------------------------


def test_dicom_attributes() -> None:
    si = _series((2, 3, 3))
    assert si.seriesNumber == 1
    si.seriesNumber = 7
    si.seriesDescription = "T1"
    si.patientID = "P1"
    assert (si.seriesNumber, si.seriesDescription, si.patientID) == (7, "T1", "P1")
    assert si.getDicomAttribute("SeriesDescription") == "T1"
    assert si.getDicomAttribute((0x0008, 0x103E)) == "T1"
    si.setDicomAttribute("RepetitionTime", 100.0)
    assert si.getDicomAttribute("RepetitionTime") == 100.0
    assert si.getDicomAttribute("EchoTime") is None
    with pytest.raises(HeaderError, match="not a valid DICOM UID"):
        si.seriesInstanceUID = "1.2.abc"
    with pytest.raises(HeaderError, match="not a DICOM keyword"):
        si.getDicomAttribute("NoSuchKeyword")


def test_views_do_not_share_attribute_changes() -> None:
    si = _series((2, 3, 3))
    view = si[0]
    view.seriesDescription = "changed"
    assert si.seriesDescription != "changed"


def test_template_and_geometry_arguments() -> None:
    src = _series((4, 5, 6))
    src.patientName = "Doe^Jane"
    src.patientID = "ID7"
    src.seriesDescription = "source"
    out = Series(np.ones((4, 5, 6)), template=src, geometry=src)
    assert out.patientName == "Doe^Jane" and out.patientID == "ID7"
    assert out.studyInstanceUID == src.studyInstanceUID
    assert out.seriesInstanceUID != src.seriesInstanceUID
    assert out.frameOfReferenceUID == src.frameOfReferenceUID
    assert out.imageType == ["DERIVED", "SECONDARY"]
    np.testing.assert_allclose(out.affine, src.affine)
    with pytest.raises(GeometryError, match="geometry has 4 slices"):
        Series(np.ones((3, 5, 6)), geometry=src)


# --- numpy interplay --------------------------------------------------------------------


def test_ufuncs_keep_header() -> None:
    si = _time_series()
    for out in (si + 1, np.sqrt(si), si * si, 2 * si, si > 3):
        assert isinstance(out, Series)
        np.testing.assert_allclose(out.timeline, si.timeline)
        np.testing.assert_allclose(out.affine, si.affine)


def test_reductions_drop_axis() -> None:
    si = _time_series()
    m = si.mean(axis=0)
    assert isinstance(m, Series) and m.shape == (4, 3, 3)
    assert m.header.axis_names == ("slice", "row", "column")
    np.testing.assert_allclose(m, np.asarray(si).mean(axis=0))
    s = si.std(axis=0)
    assert isinstance(s, Series)
    np.testing.assert_allclose(s, np.asarray(si).std(axis=0))
    k = si.max(axis=0, keepdims=True)
    assert isinstance(k, Series) and k.shape == (1, 4, 3, 3)
    assert not isinstance(si.sum(axis=-1), Series)  # over columns: no geometry
    assert np.ndim(si.mean()) == 0


def test_concatenate_and_stack() -> None:
    si = _time_series()
    c = np.concatenate([si[:2], si[2:]], axis=0)
    assert isinstance(c, Series)
    np.testing.assert_allclose(c.timeline, si.timeline)
    vol = si[0]
    s = np.stack([vol, vol, vol])
    assert isinstance(s, Series) and s.shape == (3, 4, 3, 3)
    assert s.header.axis_names[1:] == ("slice", "row", "column")


def test_geometry_losing_operations_return_plain_arrays() -> None:
    si = _series((4, 4, 4))
    for out in (si.T, si.transpose(), np.transpose(si), si.reshape(-1), si[si > 3], si.ravel()):
        assert type(out) is np.ndarray
    assert type(si[[0, 2]]) is np.ndarray  # fancy index across slices


def test_astype_copy_asarray() -> None:
    si = _series((2, 3, 3))
    f = si.astype(np.float64)
    assert isinstance(f, Series) and f.dtype == np.float64
    np.testing.assert_allclose(f.affine, si.affine)
    c = si.copy()
    assert c.header is not si.header
    c.setDicomAttribute("SeriesDescription", "copy")
    assert si.seriesDescription is None
    a = np.asarray(si)
    assert type(a) is np.ndarray and np.shares_memory(a, si)
    d = copy.deepcopy(si)
    assert d.header.template is not si.header.template


def test_pickle_keeps_header() -> None:
    si = _time_series()
    si.patientName = "Doe^John"
    back = pickle.loads(pickle.dumps(si))
    assert isinstance(back, Series)
    np.testing.assert_array_equal(back, si)
    np.testing.assert_allclose(back.affine, si.affine)
    np.testing.assert_allclose(back.timeline, si.timeline)
    assert back.patientName == "Doe^John"
    assert back.seriesInstanceUID == si.seriesInstanceUID


def test_series_from_series_and_dtype() -> None:
    si = _series((2, 3, 3))
    again = Series(si, dtype=np.int32)
    assert again.dtype == np.int32
    np.testing.assert_allclose(again.affine, si.affine)


def test_unknown_input_names_formats(tmp_path: Any) -> None:
    from imagedata.errors import UnknownFormatError

    p = tmp_path / "notes.txt"
    p.write_text("hello")
    with pytest.raises(UnknownFormatError, match=r"notes\.txt.*known: .*dicom"):
        Series(str(p))


def test_missing_path() -> None:
    from imagedata.errors import NoDataError

    with pytest.raises(NoDataError, match="no such file or folder"):
        Series("/nonexistent/folder/xyz")


def test_write_chooses_format_by_destination_extension(tmp_path: Any) -> None:
    si = _series((3, 4, 5))
    written = si.write(str(tmp_path / "k.nii.gz"))
    assert str(tmp_path / "k.nii.gz") in written
    back = Series(str(tmp_path / "k.nii.gz"))
    assert back.input_format == "nifti"
    np.testing.assert_allclose(back.affine, si.affine, atol=1e-6)
    dicom = si.write(str(tmp_path / "dicom_out"))
    assert len(dicom) == 3 and all(p.endswith(".dcm") for p in dicom)


def test_wrap_makes_no_default_header(monkeypatch: pytest.MonkeyPatch) -> None:
    """The readers' arrays are wrapped with their header only (no default template,
    whose three new UIDs cost more than the wrapping), and made C-contiguous."""
    from imagedata import header as header_module

    h = Header.default((3, 4, 5))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a default template was made")

    monkeypatch.setattr(header_module, "new_template", refuse)
    data = np.arange(60, dtype=np.int16).reshape(5, 4, 3).T  # Fortran order
    si = Series._wrap(data, h)
    assert si.header is h and si.flags.c_contiguous
    np.testing.assert_array_equal(si, data)
    with pytest.raises(ValueError, match="shape"):
        Series._wrap(np.zeros((2, 2)), h)

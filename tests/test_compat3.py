"""imagedata 3.x scripts, run unchanged against generated data.

Each test is written the way the 3.x documentation writes it; the expected values were
checked against imagedata 3.10 on the same generated data (make_dicom_series).
Deliberate differences are asserted as such (docs/migrating.md lists them).
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imagedata import Series
from imagedata.errors import (
    HeaderError,
    MultipleSeriesError,
    SortError,
    UnknownFormatError,
    UnsupportedOptionError,
)
from imagedata.testing import make_dicom_series


@pytest.fixture
def ti_split(tmp_path: Path) -> tuple[Path, list[float]]:
    """An inversion-time series written as one single-image series per TI."""
    tis = [100.0, 300.0, 900.0]
    study = pydicom.uid.generate_uid()
    for i, ti in enumerate(tis):
        make_dicom_series(
            tmp_path / "tisplit" / f"s{i}",
            shape=(1, 6, 8),
            order="ti",
            tag_values=[ti],
            seed=i,
            SeriesNumber=10 + i,
            StudyInstanceUID=study,
            FrameOfReferenceUID="1.2.3.4",
        )
    return tmp_path / "tisplit", tis


# --- 1. options ---------------------------------------------------------------------------


def test_tag_order_with_opts_keyword(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, (4, 3, 6, 8), order="ti", tag_values=[100, 200, 400, 800])
    si = Series(tmp_path, "ti", opts={"ti": "InversionTime"})
    assert si.shape == (4, 3, 6, 8) and si.input_order == "ti"
    np.testing.assert_array_equal(si.axes.ti.values, [100, 200, 400, 800])
    np.testing.assert_array_equal(np.asarray(si), truth.data)
    # a name of one's own for a keyword: the axis takes the name (3.x input_options)
    inv = Series(tmp_path, "inv", opts={"inv": "InversionTime"})
    assert inv.input_order == "inv" and inv.axes.inv.values.tolist() == [100, 200, 400, 800]


def test_ignore_series_uid_joins_single_image_series(ti_split: tuple[Path, list[float]]) -> None:
    folder, tis = ti_split
    with pytest.raises(MultipleSeriesError):
        Series(folder, "ti")
    si = Series(folder, "ti", opts={"ti": "InversionTime", "ignore_series_uid": True})
    assert si.shape == (3, 1, 6, 8)  # as 3.10
    assert si.axes.ti.values.tolist() == tis
    for k in range(3):
        ds = pydicom.dcmread(next((folder / f"s{k}").iterdir()))
        np.testing.assert_array_equal(np.asarray(si[k, 0]), ds.pixel_array)


def test_skip_broken_series_reads_the_good_one(tmp_path: Path) -> None:
    good = make_dicom_series(tmp_path / "good", (3, 6, 8))
    bad = make_dicom_series(tmp_path / "bad", (3, 6, 8), seed=3)
    ds = pydicom.dcmread(bad.files[1])
    ds.ImagePositionPatient = pydicom.dcmread(bad.files[0]).ImagePositionPatient
    ds.InstanceNumber = 99
    ds.save_as(bad.files[1])  # two images at one position with different pixels
    with pytest.raises((SortError, MultipleSeriesError)):
        Series(tmp_path)
    with pytest.warns(UserWarning, match="skip_broken_series: skipped"):
        si = Series(tmp_path, opts={"skip_broken_series": True})
    np.testing.assert_array_equal(np.asarray(si), good.data)


def test_input_format_and_auto_sort_are_checked(tmp_path: Path) -> None:
    make_dicom_series(tmp_path, (2, 2, 4, 4), order="time")
    si = Series(tmp_path, opts={"input_format": "dicom", "auto_sort": ["time", "b"]})
    assert si.input_order == "time"
    with pytest.raises(UnknownFormatError, match="input_format='nifti'"):
        Series(tmp_path, input_format="nifti")
    with pytest.raises(SortError, match="auto_sort"):
        Series(tmp_path, opts={"auto_sort": ["b"]})


@pytest.mark.parametrize(
    ("option", "value", "replacement"),
    [
        ("correct_acq", True, "slice_values"),
        ("input_echo", 2, "'te'"),
        ("split_acquisitions", True, "AcquisitionNumber"),
        ("input_shape", "2x3", "reshape"),
    ],
)
def test_unsupported_read_options_name_the_replacement(
    tmp_path: Path, option: str, value: object, replacement: str
) -> None:
    make_dicom_series(tmp_path, (2, 4, 4))
    with pytest.raises(UnsupportedOptionError, match=replacement) as info:
        Series(tmp_path, opts={option: value})
    assert option in str(info.value) and "not supported" in str(info.value)
    assert isinstance(info.value, TypeError)


def test_unknown_dict_option_warns(tmp_path: Path) -> None:
    make_dicom_series(tmp_path, (2, 4, 4))
    with pytest.warns(UserWarning, match="accept_dupliate_tag"):
        Series(tmp_path, opts={"accept_dupliate_tag": True})


def test_write_with_opts_and_patterns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from imagedata import _compat3

    monkeypatch.setattr(_compat3, "_noted", {"nifti"})  # the naming note has its own test
    truth = make_dicom_series(tmp_path / "in", (3, 2, 4, 4), order="time")
    si = Series(tmp_path / "in", "time")
    out = tmp_path / "out" / "%p"
    si.write(out, opts={"output_format": ["nifti", "dicom"], "keep_uid": True, "output_sort": 1})
    assert (tmp_path / "out" / "nifti" / "Image.nii.gz").is_file()
    back = Series(tmp_path / "out" / "dicom", "time")
    np.testing.assert_array_equal(np.asarray(back), truth.data)
    assert back.seriesInstanceUID == si.seriesInstanceUID  # keep_uid
    files = sorted((tmp_path / "out" / "dicom").iterdir())
    first_two = [pydicom.dcmread(f) for f in files[:2]]
    # output_sort=1 (3.x SORT_ON_TAG): tags run fastest, so images 1 and 2 share a slice
    assert first_two[0].ImagePositionPatient == first_two[1].ImagePositionPatient
    # the SOPInstanceUIDs the series promises are the ones written
    uids = {pydicom.dcmread(f).SOPInstanceUID for f in files}
    assert uids == set(si.SOPInstanceUIDs.values())
    # 3.x positional opts, and the series itself is not changed by sernum/serdes
    si.write(tmp_path / "o2", {"sernum": 77, "serdes": "renamed"})
    assert Series(tmp_path / "o2", "time").seriesNumber == 77 and si.seriesNumber != 77


def test_write_unsupported_window_original(tmp_path: Path) -> None:
    si = Series(np.zeros((2, 4, 4), np.uint16))
    with pytest.raises(UnsupportedOptionError, match=r"window=\(center, width\)"):
        si.write(tmp_path / "x", opts={"window": "original"})
    assert not (tmp_path / "x").exists()


def test_cmdline_namespace_as_opts(tmp_path: Path) -> None:
    from imagedata.cmdline import add_argparse_options

    make_dicom_series(tmp_path / "in", (4, 2, 4, 4), order="ti", tag_values=[1, 2, 3, 4])
    parser = argparse.ArgumentParser()
    parser.add_argument("indir")
    parser.add_argument("outdir")
    add_argparse_options(parser)
    argv = [str(tmp_path / "in"), str(tmp_path / "out"), "--order", "ti", "--serdes", "T1 map"]
    args = parser.parse_args([*argv, "--dtype", "float", "--input_options", "ti=InversionTime"])
    si = Series(args.indir, opts=args)
    assert si.input_order == "ti" and si.shape == (4, 2, 4, 4)
    si.write(args.outdir, opts=args)  # default --of dicom
    back = Series(tmp_path / "out", "ti")
    assert back.seriesDescription == "T1 map" and back.axes.ti.values.tolist() == [1, 2, 3, 4]
    bad = parser.parse_args([str(tmp_path / "in"), "x", "--correct_acq"])
    with pytest.raises(UnsupportedOptionError, match="correct_acq"):
        Series(bad.indir, opts=bad)


# --- 2. Series API ----------------------------------------------------------------------------


def test_position_voxel_round_trip_and_3x_loop() -> None:
    si = Series(np.zeros((16, 128, 128)))
    for s in range(si.slices):  # the 3.x imagePositions docstring example
        si.imagePositions = {s: si.getPositionForVoxel(np.array([s, 0, 0]))}
    np.testing.assert_allclose(si.imagePositions[3], [3, 0, 0])
    si.imagePositions = {0: np.array([10.0, 20.0, 30.0])}  # sets the origin
    np.testing.assert_allclose(si.imagePositions[1], [11, 20, 30])
    p = si.getPositionForVoxel(np.array([2, 3, 4]))
    assert p.shape == (3, 1)  # a column, as 3.x
    np.testing.assert_allclose(p.ravel(), [12, 23, 34])
    assert si.getVoxelForPosition(p).ravel().tolist() == [2, 3, 4]


def test_image_positions_dict_updates_named_slices(tmp_path: Path) -> None:
    make_dicom_series(tmp_path, (4, 4, 4), slice_spacing=2.0)
    si = Series(tmp_path)
    before = si.imagePositions
    si.imagePositions = {2: before[2] + np.array([0.5, 0, 0])}
    after = si.imagePositions
    np.testing.assert_allclose(after[2], before[2] + [0.5, 0, 0])
    for k in (0, 1, 3):
        np.testing.assert_allclose(after[k], before[k])


def test_read_series_attributes_as_3x(tmp_path: Path) -> None:
    make_dicom_series(
        tmp_path,
        (3, 3, 6, 8),
        order="time",
        StudyID="S1",
        ProtocolName="dyn",
        BodyPartExamined="HEAD",
        PatientPosition="HFS",
        Laterality="R",
    )
    si = Series(tmp_path, "time")
    assert si.timeline.tolist() == [0.0, 2.5, 5.0]
    assert si.axes.time.step == 2.5 and si.axes[0] is si.axes.time
    assert (si.windowCenter, si.windowWidth) == (149, 298)  # as 3.10 on these data
    assert (si.studyID, si.seriesDate, si.seriesTime) == ("S1", "20240229", "120500")
    assert (si.protocolName, si.bodyPartExamined, si.patientPosition) == ("dyn", "HEAD", "HFS")
    assert si.laterality == "R" and si.photometricInterpretation == "MONOCHROME2"
    assert si.color is False and si.slices == 3 and si.input_order == "time"
    si.windowCenter, si.windowWidth = 100, 50
    assert (si.windowCenter, si.windowWidth) == (100, 50)
    with pytest.raises(AttributeError, match="no axis named 'b'"):
        _ = si.axes.b


def test_tags_setter_and_set_dicom_attribute() -> None:
    si = Series(np.zeros((3, 2, 4, 4)), "time")
    si.tags = {0: [0.0, 1.5, 3.0], 1: [0.0, 1.5, 3.0]}
    assert si.timeline.tolist() == [0.0, 1.5, 3.0]
    si.tags = {0: [0.0, 1.0, 2.0], 1: [0.5, 1.5, 2.5]}  # per-slice values kept
    assert si.tags[1].tolist() == [0.5, 1.5, 2.5]
    with pytest.raises(HeaderError, match="every slice"):
        si.tags = {0: [0, 1, 2]}
    si.setDicomAttribute("seriesDescription", "x")  # 3.x capitalises the keyword
    assert si.seriesDescription == "x"
    with pytest.raises(UnsupportedOptionError, match="per-image"):
        si.setDicomAttribute("SeriesDescription", "y", slice=1)


# --- 4. shapes, 5. summaries ------------------------------------------------------------------


def test_single_image_reads_2d_and_writes_back(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "one", (1, 6, 8))
    si = Series(tmp_path / "one")
    assert si.shape == (6, 8) and si.slices == 1
    np.testing.assert_allclose(si.imagePositions[0], truth.positions[0][::-1])
    si.write(tmp_path / "out")
    back = Series(tmp_path / "out")
    assert back.shape == (6, 8)
    np.testing.assert_allclose(back.affine, si.affine, atol=1e-6)


def test_repr_and_str_are_summaries(tmp_path: Path) -> None:
    make_dicom_series(tmp_path, (2, 3, 6, 8), order="time", SeriesDescription="dyn")
    si = Series(tmp_path, "time")
    r, s = repr(si), str(si)
    assert r.startswith("<Series") and "shape=(2, 3, 6, 8)" in r and "'dyn'" in r
    assert "Patient: SYN0001" in s and "input order: time" in s and "Shape: 2x3x6x8" in s
    assert "Study  Time: 2024-02-29" in s and "Spacing: [2, 0.5, 0.8]" in s
    assert len(s.splitlines()) < 10  # never the voxel values
    assert "[[" in repr(np.asarray(si))


# --- 6. collections ---------------------------------------------------------------------------


def test_collections_as_3x(ti_split: tuple[Path, list[float]]) -> None:
    from imagedata.collection import Cohort, Study

    folder, _ = ti_split
    study = Study(folder)
    assert study[0].shape == (6, 8) and study[0] is next(iter(study.values()))
    assert study.studyDate == dt.datetime(2024, 2, 29)
    assert study.studyTime == dt.time(12, 0, 0)
    assert str(study).startswith("Study: 2024-02-29 12:00:00")
    with pytest.raises(IndexError, match="3 entries"):
        study[5]
    cohort = Cohort(folder)
    assert "Patient: SYN0001" in str(cohort) and repr(cohort).startswith("<Cohort")


# --- 7. processing --------------------------------------------------------------------------


def test_to_rgb_and_fuse_mask_keep_geometry(tmp_path: Path) -> None:
    make_dicom_series(tmp_path, (3, 6, 8))
    si = Series(tmp_path)
    rgb = si.to_rgb()
    assert rgb.shape == (3, 6, 8, 3) and rgb.dtype == np.uint8 and rgb.color
    assert rgb.photometricInterpretation == "RGB"
    np.testing.assert_allclose(rgb.affine, si.affine)
    mask = np.zeros(si.shape, bool)
    mask[1, 2:4, 2:5] = True
    fused = si.fuse_mask(mask)
    assert fused.shape == rgb.shape and fused.color
    # red is raised inside the mask, green and blue are the grey image there
    inside = np.asarray(fused)[1, 3, 3]
    grey = np.asarray(rgb)[1, 3, 3]
    assert inside[0] > grey[0] and inside[1] == grey[1]
    np.testing.assert_array_equal(np.asarray(fused)[0], np.asarray(rgb)[0])  # no mask there
    with pytest.raises(IndexError, match="does not match"):
        si.fuse_mask(np.zeros((5, 5)))


def test_get_roi_headless_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from imagedata import viewer
    from imagedata.processing import HeadlessError, mask_from_vertices

    monkeypatch.setattr(viewer, "is_headless", lambda: True)
    si = Series(np.zeros((2, 4, 4)))
    with pytest.raises(HeadlessError, match="no display"):
        si.get_roi()
    m = mask_from_vertices(si.shape, {(1,): [(0.5, 0.5), (2.5, 0.5), (2.5, 2.5), (0.5, 2.5)]})
    assert m[1].sum() == 4 and m[0].sum() == 0


def test_align_identical_grid_is_exact_and_shift_matches_sitk(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "a", (6, 8, 10), FrameOfReferenceUID="1.2.3")
    a = Series(tmp_path / "a")
    same = a.align(a)
    np.testing.assert_array_equal(np.asarray(same), truth.data)
    # reference: a grid shifted by whole voxels -> exact sub-block
    ref = Series(np.zeros((4, 6, 8), np.uint16), template=a, geometry=a[1:5, 1:7, 2:10])
    moved = a.align(ref)
    np.testing.assert_array_equal(np.asarray(moved), truth.data[1:5, 1:7, 2:10])
    np.testing.assert_allclose(moved.affine, ref.affine)
    # an oblique reference: compare with SimpleITK resampling of the same volume
    sitk = pytest.importorskip("SimpleITK")
    make_dicom_series(
        tmp_path / "b",
        (5, 7, 9),
        orientation="oblique",
        position=(-101.0, -119.5, -49.0),
        FrameOfReferenceUID="1.2.3",
    )
    b = Series(tmp_path / "b")
    a64 = a.astype(np.float64)
    ours = np.asarray(a64.align(b))
    resampled = sitk.Resample(a64.to_sitk(), b.to_sitk(), sitk.Transform(), sitk.sitkLinear)
    expected = sitk.GetArrayFromImage(resampled)
    # inside the moving volume the values agree; at its half-voxel border SimpleITK
    # extends the edge voxels where 3.x (scipy) and imagedata give the fill value
    inside = ours != 0
    assert inside.sum() > 200
    np.testing.assert_allclose(ours[inside], expected[inside], atol=1e-6)
    other = Series(np.zeros((4, 6, 8)), geometry=ref)
    other.frameOfReferenceUID = "9.9.9"
    with pytest.raises(ValueError, match="FrameOfReferenceUID differs"):
        other.align(a)


def test_show_accepts_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    from imagedata import viewer

    seen = {}

    def fake_show(si, *others, **options):
        seen["n"] = 1 + len(others)

    monkeypatch.setattr(viewer, "show", fake_show)
    a = Series(np.zeros((2, 4, 4)))
    a.show([a, a])  # 3.x: a.show(im2=[b, c])
    assert seen["n"] == 3


def test_align_simpleitk_fallback_matches_scipy() -> None:
    pytest.importorskip("SimpleITK")
    from imagedata import processing

    rng = np.random.default_rng(0)
    volume = rng.random((5, 6, 7))
    coords = rng.uniform(0.2, 3.8, size=(3, 4, 3, 2))
    np.testing.assert_allclose(
        processing._resample_sitk(volume, coords, "linear", 0),
        processing._resample(volume, coords, "linear", 0),
        atol=1e-9,
    )


def test_collections_take_3x_opts(ti_split: tuple[Path, list[float]]) -> None:
    from imagedata.collection import Study

    folder, _ = ti_split
    study = Study(folder, opts={"strict_values": False, "skip_broken_series": True})
    assert len(study) == 3
    with pytest.raises(UnsupportedOptionError, match="Series\\(path, ignore_series_uid"):
        Study(folder, opts={"ignore_series_uid": True})
    with pytest.raises(UnsupportedOptionError, match="sort_on_slice_location"):
        Study(folder, opts={"sort_on_slice_location": True})


def test_folder_naming_difference_is_explained_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("nibabel")
    from imagedata import _compat3

    monkeypatch.setattr(_compat3, "_noted", set())
    si = Series(np.zeros((2, 4, 4), np.float32))
    with pytest.warns(UserWarning, match=r"3\.x wrote .*nii\.nii\.gz; end the name with \.nii\.gz"):
        written = si.write(tmp_path / "nii", formats=["nifti"])
    assert written[0].endswith("Image.nii.gz")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        si.write(tmp_path / "again", formats=["nifti"])  # once only
        si.write(tmp_path / "x.nii.gz", formats=["nifti"])  # a file name: no note


def test_get_roi_draws_a_polygon_in_the_viewer() -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.backend_bases import MouseEvent
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    si = Series(np.zeros((3, 10, 12), np.float32))
    si.spacing = (2.0, 1.0, 1.0)
    drawing = si.get_roi(figure=fig, slice=1)
    ax = drawing.viewer.panels[0].axes
    fig.canvas.draw()

    def click(col: float, row: float) -> None:
        x, y = ax.transData.transform((col, row))
        for name in ("motion_notify_event", "button_press_event", "button_release_event"):
            MouseEvent(name, fig.canvas, x, y, button=1)._process()

    corners = [(2.5, 3.5), (7.5, 3.5), (7.5, 6.5), (2.5, 6.5), (2.5, 3.5)]
    for col, row in corners:  # closed on the first corner
        click(col, row)
    mask = drawing.mask()
    assert list(drawing.vertices) == [(1,)]
    expected = np.zeros(si.shape, np.uint8)
    expected[1, 4:7, 3:8] = 1  # the pixel centres inside the rectangle
    np.testing.assert_array_equal(np.asarray(mask), expected)
    np.testing.assert_allclose(mask.affine, si.affine)


def test_window_set_on_a_series_is_written(tmp_path: Path) -> None:
    si = Series(np.arange(32, dtype=np.uint16).reshape(2, 4, 4))
    si.windowCenter, si.windowWidth = 5, 3
    si.write(tmp_path / "w")
    ds = pydicom.dcmread(sorted((tmp_path / "w").iterdir())[0])
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (5.0, 3.0)
    plain = Series(np.arange(32, dtype=np.uint16).reshape(2, 4, 4))
    plain.write(tmp_path / "p")  # no window set: from the data range
    ds = pydicom.dcmread(sorted((tmp_path / "p").iterdir())[0])
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (15.5, 31.0)

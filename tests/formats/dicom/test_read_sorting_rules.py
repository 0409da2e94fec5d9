"""Sorting rules on generated series: repeats, SOPInstanceUID twins, Philips patterns,
forced orders, and decisions made from the header pass alone."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imagedata import Series
from imagedata.archives import expand
from imagedata.errors import MultipleSeriesError, SortError
from imagedata.formats.dicom import _scan
from imagedata.formats.dicom._sort import sort_group
from imagedata.formats.dicom.reader import scan_groups
from imagedata.loadsave import read
from imagedata.testing import make_dicom_series
from imagedata.testing.vendor import make_philips_dwi, philips_asl
from tests.formats.dicom._readutil import by_position, edit


def _repeats(tmp_path: Path, nvol: int = 3, nslices: int = 4, **kw: object) -> object:
    """Volumes equal in every tag but InstanceNumber (GE fMRI style)."""
    return make_dicom_series(tmp_path, shape=(nvol, nslices, 4, 5), order="none", **kw)


def test_hc18_repeats_ordered_by_instance_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    truth = _repeats(tmp_path, RepetitionTime=2000.0)
    with pytest.warns(UserWarning, match=r"3 repeats, ordered by InstanceNumber.*x RepetitionTime"):
        arr, h = read(tmp_path)
    assert h.input_order == "time" and arr.shape == (3, 4, 4, 5)
    np.testing.assert_array_equal(arr, truth.data)  # type: ignore[attr-defined]
    np.testing.assert_allclose(h.axes[0].values, [0.0, 2.0, 4.0])


def test_hc18_repeats_with_equal_pixels_are_kept(tmp_path: Path) -> None:
    """Different SOPInstanceUIDs are different images, even with equal pixels."""
    volume0: dict[int, bytes] = {}

    def same_pixels(ds: pydicom.Dataset, t: int, k: int) -> None:
        volume0.setdefault(k, ds.PixelData)
        ds.PixelData = volume0[k]

    truth = _repeats(tmp_path, edit=same_pixels)
    arr, _ = read(tmp_path)
    assert arr.shape == (3, 4, 4, 5)
    for t in range(3):
        np.testing.assert_array_equal(arr[t], truth.data[0])  # type: ignore[attr-defined]


def test_hc18_repeats_with_equal_instance_numbers_are_an_error(tmp_path: Path) -> None:
    _repeats(tmp_path, edit=lambda ds, t, k: setattr(ds, "InstanceNumber", k + 1))
    with pytest.raises(SortError, match="cannot tell apart"):
        read(tmp_path)


def test_hc18_repeats_with_acquisition_times_keep_them(tmp_path: Path) -> None:
    start = dt.datetime(2024, 2, 29, 12, 5, 0)

    def timed(ds: pydicom.Dataset, t: int, k: int) -> None:
        ds.AcquisitionTime = (start + dt.timedelta(seconds=3 * t + 0.1 * k)).strftime("%H%M%S.%f")

    truth = _repeats(tmp_path, edit=timed)
    arr, h = read(tmp_path)
    assert h.input_order == "time"
    np.testing.assert_array_equal(arr, truth.data)  # type: ignore[attr-defined]
    np.testing.assert_allclose(np.diff(h.axes[0].values), [3.0, 3.0])


def test_hc19_uid_twin_with_other_pixels_is_split_naming_both(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "s", shape=(4, 4, 4))
    src = by_position(truth.files)[2]
    ds = pydicom.dcmread(src)
    pix = ds.pixel_array.copy()
    pix[0, 0] += 1
    ds.PixelData = pix.tobytes()
    ds.save_as(tmp_path / "s" / "zz_twin")
    with pytest.raises(MultipleSeriesError) as info:
        read(tmp_path / "s")
    text = str(info.value)
    assert "zz_twin" in text and src.name in text and "different pixels" in text
    arr, _ = read(tmp_path / "s", series="3.1")
    np.testing.assert_array_equal(arr, truth.data)


def test_hc19_uid_twin_with_equal_pixels_read_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    truth = make_dicom_series(tmp_path, shape=(4, 4, 4))
    shutil.copy(truth.files[0], tmp_path / "copy")
    with caplog.at_level(logging.INFO, logger="imagedata.formats.dicom"):
        arr, _ = read(tmp_path)
    np.testing.assert_array_equal(arr, truth.data)
    assert "copy" in caplog.text and truth.files[0].name in caplog.text


def test_hc20_philips_dwi_trace_left_out_and_odd_acquisition_number(tmp_path: Path) -> None:
    truth = make_philips_dwi(tmp_path, nslices=4, directions=6, odd_acquisition_number=(3, 17, 22))
    with pytest.warns(UserWarning, match=r"4 Philips derived isotropic \(trace\).*series='3.2'"):
        arr, h = read(tmp_path)
    assert h.input_order == "dti" and arr.shape == (7, 4, 8, 8)
    np.testing.assert_array_equal(arr, truth.data)
    values = h.axes[0].values
    np.testing.assert_allclose(values[:, 0], [0] + [1000] * 6)
    np.testing.assert_allclose(values[:, 1:], truth.attributes["gradients"], atol=1e-6)
    trace, _ = read(tmp_path, series="3.2")
    assert trace.shape == (4, 8, 8)


def test_hc20_philips_asl_label_control_by_private_tag(tmp_path: Path) -> None:
    """Label and control differ only in (2005,1429): ordered by InstanceNumber."""

    def asl(ds: pydicom.Dataset, t: int, k: int) -> None:
        philips_asl(ds, label=t % 2 == 0)
        ds.TemporalPositionIdentifier = t // 2 + 1

    truth = make_dicom_series(tmp_path, shape=(6, 3, 4, 4), order="none", edit=asl)
    arr, h = read(tmp_path)
    assert h.input_order == "time" and arr.shape == (6, 3, 4, 4)
    np.testing.assert_array_equal(arr, truth.data)


def test_hc24_forced_order_without_attribute(tmp_path: Path) -> None:
    make_dicom_series(tmp_path, shape=(3, 2, 4, 4), order="time")
    with pytest.raises(SortError, match=r"input_order='b'.*DiffusionBValue.*'auto'"):
        read(tmp_path, input_order="b")
    with pytest.raises(SortError, match=r"input_order='InversionTime'.*no InversionTime"):
        read(tmp_path, input_order="InversionTime")


def test_forced_order_with_equal_values(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(3, 2, 4, 4), order="time", EchoTime=5.0)
    with pytest.raises(SortError, match=r"input_order='te'.*EchoTime.*accept_duplicate_tag"):
        read(tmp_path, input_order="te")
    arr, h = read(tmp_path, input_order="te", accept_duplicate_tag=True)
    assert h.input_order == "te" and arr.shape == (3, 2, 4, 4)
    np.testing.assert_array_equal(arr, truth.data)  # InstanceNumber order
    np.testing.assert_allclose(h.axes[0].values, [5.0, 5.0, 5.0])


def test_b_by_bvector_incomplete_names_dti(tmp_path: Path) -> None:
    truth = make_dicom_series(
        tmp_path, shape=(4, 2, 4, 4), order="b", tag_values=[0, 1000, 1000, 1000]
    )
    directions = [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)]

    def gradients(ds: pydicom.Dataset, i: int) -> None:
        t = (int(ds.InstanceNumber) - 1) // 2
        if t:
            ds.DiffusionGradientOrientation = list(directions[t - 1])

    edit(truth.files, gradients)
    with pytest.raises(SortError, match=r"input_order='dti'"):
        read(tmp_path, input_order="b,bvector")
    arr, h = read(tmp_path, input_order="dti")
    assert arr.shape == (4, 2, 4, 4) and h.input_order == "dti"


def test_time_te_forced_equals_auto_when_echoes_have_own_times(tmp_path: Path) -> None:
    """imagedata 3.x's 5D case: each echo acquired slightly later, no temporal position."""
    start = dt.datetime(2024, 2, 29, 12, 5, 0)
    tes = (5.0, 10.0, 15.0)

    def multi_echo(ds: pydicom.Dataset, t: int, k: int) -> None:
        time, echo = divmod(t, len(tes))
        ds.EchoTime = tes[echo]
        ds.EchoNumbers = echo + 1
        stamp = start + dt.timedelta(seconds=2.5 * time + 0.01 * echo + 0.001 * k)
        ds.AcquisitionTime = stamp.strftime("%H%M%S.%f")
        del ds.AcquisitionNumber

    truth = make_dicom_series(tmp_path, shape=(12, 3, 4, 4), order="none", edit=multi_echo)
    arr, h = read(tmp_path)
    assert h.input_order == "time,te" and arr.shape == (4, 3, 3, 4, 4)
    np.testing.assert_array_equal(arr, truth.data.reshape(4, 3, 3, 4, 4))
    forced, hf = read(tmp_path, input_order="time,te")
    np.testing.assert_array_equal(forced, arr)
    np.testing.assert_allclose(hf.axes[0].values, h.axes[0].values)
    np.testing.assert_allclose(hf.axes[1].values, tes)


def test_explicit_none_is_honoured(tmp_path: Path) -> None:
    make_dicom_series(tmp_path, shape=(2, 3, 4, 4), order="te", tag_values=[5, 9])
    assert Series(tmp_path).shape == (2, 3, 4, 4)
    with pytest.raises(SortError, match="input_order='none'"):
        Series(tmp_path, input_order="none")


def test_decisions_from_header_pass_alone(tmp_path: Path) -> None:
    """Grouping and sorting a Philips DWI (private tags) and repeats parse no file fully."""
    make_philips_dwi(tmp_path / "dwi", nslices=3, directions=4)
    _repeats(tmp_path / "rep")
    for folder, order in ((tmp_path / "dwi", "dti"), (tmp_path / "rep", "time")):
        groups = scan_groups(expand(folder))
        images = [img for g in groups for img in g.images]
        assert all(img.file.fast for img in images)
        sorted_, _ = sort_group(groups[0].images, "auto")
        assert ",".join(d.name for d in sorted_.dims) == order
        assert all(img.file._ds is None for img in images), "a file was parsed by pydicom"


def test_fast_private_values_agree_with_pydicom(tmp_path: Path) -> None:
    truth = make_philips_dwi(tmp_path, nslices=1, directions=2, trace=False)
    for f in truth.files:
        info = _scan.read_header(expand(f)[0])
        assert info is not None and info.fast
        ds = pydicom.dcmread(f)
        for group, creator, element in (
            (0x2001, "Philips Imaging DD 001", 0x03),
            (0x2001, "Philips Imaging DD 001", 0x04),
            (0x2005, "Philips MR Imaging DD 001", 0xB1),
        ):
            fast = info.private(group, creator, element)
            ref = _scan.private_value(ds, group, creator, element)
            assert fast == pytest.approx(ref) if isinstance(ref, float) else fast == ref


def test_accept_duplicate_tag_through_series_and_3x_opts(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(3, 2, 4, 4), order="time", EchoTime=5.0)
    for si in (
        Series(tmp_path, input_order="te", accept_duplicate_tag=True),
        Series(tmp_path, "te", opts={"accept_duplicate_tag": True}),
    ):
        assert si.shape == (3, 2, 4, 4) and si.input_order == "te"
        np.testing.assert_array_equal(np.asarray(si), truth.data)

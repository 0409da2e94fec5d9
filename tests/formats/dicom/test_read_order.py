"""DICOM reader input_order: auto detection, well-known orders, keywords, callables, N-D."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pydicom
import pytest

from imagedata.errors import SortError
from imagedata.loadsave import read
from imagedata.testing import make_dicom_series
from tests.formats.dicom._readutil import edit


def _multi_echo(
    tmp_path: Path, tes: tuple[float, ...] = (5.0, 10.0), echo_delay: float = 0.0
) -> list:
    """A time series acquired at several echo times, all in one series."""
    start = dt.datetime(2024, 2, 29, 12, 5, 0)
    truths = [
        make_dicom_series(
            tmp_path / f"te{te}",
            shape=(3, 4, 4, 5),
            order="time",
            seed=i,
            EchoTime=te,
            start_time=start + dt.timedelta(seconds=i * echo_delay),
        )
        for i, te in enumerate(tes)
    ]
    first = pydicom.dcmread(truths[0].files[0])

    def join(ds: pydicom.Dataset, i: int) -> None:
        for kw in ("SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID"):
            setattr(ds, kw, getattr(first, kw))

    for t in truths[1:]:
        edit(t.files, join)
    return truths


def test_auto_time_and_echo_give_5d(tmp_path: Path) -> None:
    truths = _multi_echo(tmp_path)
    arr, h = read(tmp_path)
    assert h.input_order == "time,te"
    assert arr.shape == (3, 2, 4, 4, 5)
    assert [a.name for a in h.axes[:2]] == ["time", "te"]
    np.testing.assert_allclose(h.axes[1].values, [5.0, 10.0])
    for e, t in enumerate(truths):
        np.testing.assert_array_equal(arr[:, e], t.data)
    arr2, _h2 = read(tmp_path, input_order="time,te")
    np.testing.assert_array_equal(arr2, arr)
    arr3, h3 = read(tmp_path, input_order="te,time")
    assert arr3.shape == (2, 3, 4, 4, 5) and h3.input_order == "te,time"
    np.testing.assert_array_equal(arr3, arr.swapaxes(0, 1))


def test_auto_echoes_with_own_acquisition_times(tmp_path: Path) -> None:
    truths = _multi_echo(tmp_path, echo_delay=0.5)
    arr, h = read(tmp_path)
    assert h.input_order == "time,te" and arr.shape == (3, 2, 4, 4, 5)
    for e, t in enumerate(truths):
        np.testing.assert_array_equal(arr[:, e], t.data)
    np.testing.assert_allclose(h.axes[0].values - h.axes[0].values[0], [0, 2.5, 5.0])


def test_b_values_auto(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(3, 4, 4, 4), order="b", tag_values=[0, 500, 1000])
    arr, h = read(tmp_path)
    assert h.input_order == "b"
    np.testing.assert_allclose(h.axes[0].values, [0, 500, 1000])
    np.testing.assert_array_equal(arr, truth.data)


def test_dti_when_gradients_vary(tmp_path: Path) -> None:
    truth = make_dicom_series(
        tmp_path, shape=(4, 3, 4, 4), order="b", tag_values=[0, 1000, 1000, 1000]
    )
    vectors = {0.0: (0, 0, 0)}
    count: dict[str, int] = {}

    def gradients(ds: pydicom.Dataset, i: int) -> None:
        b = float(ds.DiffusionBValue)
        pos = str(ds.ImagePositionPatient)
        if b == 0:
            ds.DiffusionGradientOrientation = list(vectors[0.0])
            return
        n = count.get(pos, 0)
        count[pos] = n + 1
        ds.DiffusionGradientOrientation = [[1, 0, 0], [0, 1, 0], [0, 0, 1]][
            int(ds.InstanceNumber - 1) // 3 - 1
        ]

    edit(truth.files, gradients)
    arr, h = read(tmp_path)
    assert h.input_order == "dti"
    assert h.axes[0].values.shape == (4, 4)
    np.testing.assert_allclose(h.axes[0].values[:, 0], [0, 1000, 1000, 1000])
    np.testing.assert_allclose(h.axes[0].values[1:, 1:], np.eye(3))
    np.testing.assert_array_equal(arr, truth.data)
    _, hb = read(tmp_path, input_order="bvector")
    np.testing.assert_allclose(hb.axes[0].values[1:], np.eye(3))


@pytest.mark.parametrize(
    ("order", "keyword"),
    [("ti", "InversionTime"), ("fa", "FlipAngle"), ("triggertime", "TriggerTime")],
)
def test_well_known_orders_and_keywords(tmp_path: Path, order: str, keyword: str) -> None:
    truth = make_dicom_series(tmp_path, shape=(3, 2, 4, 4), order=order, tag_values=[300, 100, 200])
    arr, h = read(tmp_path)
    assert h.input_order == order
    np.testing.assert_allclose(h.axes[0].values, [100, 200, 300])
    np.testing.assert_array_equal(arr, truth.data[[1, 2, 0]])
    arr_k, hk = read(tmp_path, input_order=keyword)
    assert hk.axes[0].name == keyword and hk.input_order == keyword
    np.testing.assert_array_equal(arr_k, arr)


def test_callable_order(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(3, 2, 4, 4), order="te", tag_values=[10, 20, 30])

    def minus_te(ds: pydicom.Dataset) -> float:
        return -float(ds.EchoTime)

    arr, h = read(tmp_path, input_order=minus_te)
    assert h.axes[0].name == "minus_te"
    np.testing.assert_allclose(h.axes[0].values, [-30, -20, -10])
    np.testing.assert_array_equal(arr, truth.data[::-1])


def test_time_crossing_midnight(tmp_path: Path) -> None:
    start = dt.datetime(2024, 2, 29, 23, 59, 57)
    truth = make_dicom_series(
        tmp_path, shape=(4, 2, 4, 4), order="time", start_time=start, tag_values=[0, 2, 4, 6]
    )
    arr, h = read(tmp_path)
    t = h.axes[0].values
    np.testing.assert_allclose(t, 86397 + np.array([0, 2, 4, 6]))
    np.testing.assert_array_equal(arr, truth.data)

    def no_datetime(ds: pydicom.Dataset, i: int) -> None:
        del ds.AcquisitionDateTime  # AcquisitionDate + AcquisitionTime remain

    edit(truth.files, no_datetime)
    arr2, h2 = read(tmp_path)
    np.testing.assert_allclose(h2.axes[0].values, t)
    np.testing.assert_array_equal(arr2, truth.data)


def test_time_from_temporal_position_only(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, shape=(3, 2, 4, 4), order="time")

    def same_time(ds: pydicom.Dataset, i: int) -> None:
        del ds.AcquisitionDateTime
        ds.AcquisitionTime = "120000"
        ds.AcquisitionNumber = 1

    edit(truth.files, same_time)
    arr, h = read(tmp_path)
    assert h.input_order == "time"
    np.testing.assert_array_equal(arr, truth.data)


def test_none_with_several_images_per_position(tmp_path: Path) -> None:
    make_dicom_series(tmp_path, shape=(2, 3, 4, 4), order="te", tag_values=[5, 9])
    with pytest.raises(SortError, match="EchoTime"):
        read(tmp_path, input_order="none")


def test_auto_unexplained_variation_names_attribute(tmp_path: Path) -> None:
    make_dicom_series(tmp_path, shape=(2, 3, 4, 4), order="te", tag_values=[1, 2])

    def no_time(ds: pydicom.Dataset, i: int) -> None:
        ds.SequenceName = f"seq{int(ds.EchoTime)}"
        ds.EchoTime = 5.0

    edit(list(tmp_path.iterdir()), no_time)
    with pytest.raises(SortError, match="SequenceName"):
        read(tmp_path)
    arr, h = read(tmp_path, input_order="SequenceName")
    assert arr.shape == (2, 3, 4, 4)
    assert list(h.axes[0].values) == ["seq1", "seq2"]


def test_unknown_order() -> None:
    from imagedata.formats.dicom._tags import parse_order

    with pytest.raises(ValueError, match="unknown input_order 'bogus'"):
        parse_order("bogus")


@pytest.mark.parametrize("vendor", ["SIEMENS", "Philips Medical Systems", "GE MEDICAL SYSTEMS"])
def test_hc15_vendor_private_diffusion(tmp_path: Path, vendor: str) -> None:
    truth = make_dicom_series(tmp_path, shape=(3, 2, 4, 4), order="b", tag_values=[0, 500, 1000])
    gradients = {0.0: (0.0, 0.0, 0.0), 500.0: (1.0, 0.0, 0.0), 1000.0: (0.0, 0.6, 0.8)}

    def private(ds: pydicom.Dataset, i: int) -> None:
        b = float(ds.DiffusionBValue)
        del ds.DiffusionBValue
        ds.Manufacturer = vendor
        g = gradients[b]
        if vendor == "SIEMENS":
            block = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
            block.add_new(0x0C, "IS", int(b))
            block.add_new(0x0E, "FD", list(g))
        elif vendor.startswith("Philips"):
            ds.private_block(0x2001, "Philips Imaging DD 001", create=True).add_new(0x03, "FL", b)
            block = ds.private_block(0x2005, "Philips MR Imaging DD 001", create=True)
            for e, v in zip((0xB0, 0xB1, 0xB2), g):
                block.add_new(e, "FL", v)
        else:
            ds.private_block(0x0043, "GEMS_PARM_01", create=True).add_new(
                0x39, "IS", [int(b) + 1000000000, 8, 0, 0]
            )
            block = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
            for e, v in zip((0xBB, 0xBC, 0xBD), g):
                block.add_new(e, "DS", v)

    edit(truth.files, private)
    arr, h = read(tmp_path)
    assert h.input_order == "b"
    np.testing.assert_allclose(h.axes[0].values, [0, 500, 1000])
    np.testing.assert_array_equal(arr, truth.data)
    _, hd = read(tmp_path, input_order="dti")
    np.testing.assert_allclose(
        hd.axes[0].values[:, 1:], [gradients[b] for b in (0.0, 500.0, 1000.0)]
    )

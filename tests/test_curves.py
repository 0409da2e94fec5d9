"""Curves: the mean over a mask along the tag axis, with units; plotted with matplotlib."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagedata._curves import curve
from imagedata.series import Series
from imagedata.testing import make_dicom_series


@pytest.fixture
def dyn(tmp_path: Path) -> Series:
    truth = make_dicom_series(
        tmp_path / "d", (4, 3, 6, 8), order="time", tag_values=[0.0, 1.5, 3.0, 4.5]
    )
    return Series(truth.path, input_order="time")


def test_curve_is_the_mean_over_the_mask(dyn: Series) -> None:
    mask = np.zeros(dyn.shape[1:], dtype=bool)
    mask[1, 2:4, 3:7] = True
    c = curve(dyn, mask)
    data = np.asarray(dyn, dtype=np.float64)
    np.testing.assert_allclose(c.y, [data[t][mask].mean() for t in range(4)])
    np.testing.assert_allclose(c.x, [0.0, 1.5, 3.0, 4.5])
    assert (c.xlabel, c.ylabel, c.voxels) == ("time (s)", "mean", 8)
    # a mask over the whole series uses its first tag; a 0/1 Series is a mask too
    np.testing.assert_allclose(curve(dyn, dyn * 0 + 1).y, data.reshape(4, -1).mean(axis=1))


def test_curve_units_of_b_values_and_of_a_parametric_map(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "b", (3, 2, 4, 4), order="b", tag_values=[0, 500, 1000])
    dwi = Series(truth.path, input_order="b")
    c = curve(dwi, np.ones(dwi.shape[1:], bool))
    assert c.xlabel == "b (s/mm2)"
    np.testing.assert_allclose(c.x, [0, 500, 1000])
    pytest.importorskip("highdicom", reason="Parametric Maps need highdicom (imagedata[derived])")
    (dwi[0].astype(np.float32) / 7).write(tmp_path / "pm", formats=["dicom"], units="ms")
    pm = Series(tmp_path / "pm")  # a Parametric Map (iod='auto'), read back
    stacked = dwi.astype(np.float32)
    stacked.header = stacked.header.replace(template=pm.header.template)
    assert curve(stacked, np.ones(dwi.shape[1:], bool)).ylabel == "mean (ms)"


def test_curve_errors(dyn: Series) -> None:
    with pytest.raises(ValueError, match="empty"):
        curve(dyn, np.zeros(dyn.shape[1:], bool))
    with pytest.raises(ValueError, match="spatial axes"):
        curve(dyn, np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="one tag axis"):
        curve(dyn[0], np.ones(dyn.shape[1:], bool))


def test_plot_curve_draws_the_numbers(dyn: Series, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib (imagedata[viewer])")
    mask = np.ones(dyn.shape[1:], bool)
    c = dyn.plot_curve(mask, path=tmp_path / "c.png", label="all")
    assert c.png == tmp_path / "c.png" and c.png.stat().st_size > 5000
    line = c.figure.axes[0].lines[0]
    np.testing.assert_allclose(line.get_xdata(), c.x)
    np.testing.assert_allclose(line.get_ydata(), c.y)
    assert c.figure.axes[0].get_xlabel() == "time (s)"
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    dyn.plot_curve(mask, ax=ax)
    assert len(ax.lines) == 1


def test_plot_curve_without_display_says_where(dyn: Series, monkeypatch) -> None:
    pytest.importorskip("matplotlib", reason="plots need matplotlib (imagedata[viewer])")
    import matplotlib

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(matplotlib, "get_backend", lambda: "agg")
    with pytest.warns(UserWarning, match="no display: the curve was written to"):
        c = dyn.plot_curve(np.ones(dyn.shape[1:], bool))
    assert c.png is not None and c.png.stat().st_size > 5000
    c.png.unlink()

"""The NiiVue notebook widget: the series arrives as NIfTI with its voxels and geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagedata.series import Series
from imagedata.testing import make_dicom_series

pytest.importorskip("ipyniivue", reason="the widget needs ipyniivue (imagedata[widget])")
nib = pytest.importorskip("nibabel", reason="the widget needs nibabel (imagedata[widget])")


def test_widget_holds_the_series_as_nifti(tmp_path: Path) -> None:
    truth = make_dicom_series(
        tmp_path / "s", (4, 6, 8), orientation="oblique", SeriesDescription="T1 map"
    )
    si = Series(truth.path)
    nv = si.widget(window=(1000.0, 400.0), colormap="hot")
    (vol,) = nv.volumes
    assert vol.name == "T1_map.nii"
    assert (vol.cal_min, vol.cal_max, vol.colormap) == (800.0, 1200.0, "hot")
    img = nib.Nifti1Image.from_bytes(bytes(vol.data))
    want = si.to_nibabel()
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), np.asanyarray(want.dataobj))
    np.testing.assert_allclose(img.affine, want.affine)


def test_widget_of_a_4d_series(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "d", (3, 2, 4, 5), order="time", tag_values=[0, 1, 2])
    si = Series(truth.path, input_order="time")
    (vol,) = si.widget().volumes
    assert nib.Nifti1Image.from_bytes(bytes(vol.data)).shape == (5, 4, 2, 3)
    with pytest.raises(ValueError, match="width"):
        si.widget(window=(1.0, 0.0))

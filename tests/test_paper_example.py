"""The example of the original imagedata paper runs unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagedata.testing import make_dicom_series


def test_paper_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    truth = make_dicom_series(
        tmp_path / "dicom" / "volume",
        shape=(16, 160, 160),
        pixel_spacing=(1.3125, 1.3125),
        slice_spacing=2.0,
    )
    monkeypatch.chdir(tmp_path)
    # --- the paper's code, unchanged ---
    from imagedata.series import Series

    si = Series("dicom/volume/")
    print(si.shape, si.dtype)  # (16, 160, 160) uint16
    si.spacing  # noqa: B018  [2., 1.3125, 1.3125]
    si.sliceLocations  # noqa: B018
    si.write("output/")
    si.write("itk_output/", formats=["itk"])
    slice5 = si[5, ...]
    slice5.sliceLocations  # noqa: B018
    slice5.write("slice5/")
    # --- what it must have done ---
    assert si.shape == (16, 160, 160) and si.dtype == np.uint16
    np.testing.assert_allclose(si.spacing, (2.0, 1.3125, 1.3125))
    np.testing.assert_array_equal(np.asarray(si), truth.data)
    np.testing.assert_allclose(si.sliceLocations, -50 + 2 * np.arange(16))
    np.testing.assert_array_equal(np.asarray(Series("output/")), truth.data)
    assert (tmp_path / "itk_output" / "Image.mha").is_file()
    itk = Series("itk_output/")
    np.testing.assert_allclose(itk.affine, si.affine, atol=1e-6)
    np.testing.assert_allclose(slice5.sliceLocations, [si.sliceLocations[5]])
    back = Series("slice5/")
    assert back.shape == (160, 160)  # a folder of one image reads 2-D (rows, columns)
    np.testing.assert_allclose(back.sliceLocations, [si.sliceLocations[5]], atol=1e-4)
    np.testing.assert_array_equal(np.asarray(back), truth.data[5])

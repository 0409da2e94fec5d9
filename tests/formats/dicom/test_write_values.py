"""Value quantisation of the DICOM writer: exact 16-bit storage, rounding, documented error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from imagedata.errors import WriteError
from imagedata.formats.dicom._values import UINT16_MAX, ds_str, quantize


def _restore(q) -> np.ndarray:  # type: ignore[no-untyped-def]
    return q.stored.astype(np.float64) * float(q.slope) + float(q.intercept)


@pytest.mark.parametrize(
    ("data", "dtype", "signed"),
    [
        (np.array([0, 1, 65535], dtype=np.uint16), np.uint16, False),
        (np.array([-32768, 0, 32767], dtype=np.int16), np.int16, True),
        (np.array([0, 4095], dtype=np.int64), np.uint16, False),
        (np.array([-1024, 3071], dtype=np.int32), np.int16, True),
        (np.array([0.0, 12.0, -3.0]), np.int16, True),
        (np.array([True, False]), np.uint16, False),
        (np.array([0, 255], dtype=np.uint8), np.uint16, False),
    ],
)
def test_whole_numbers_fitting_16_bits_are_exact(data, dtype, signed) -> None:  # type: ignore[no-untyped-def]
    q = quantize(data)
    assert q.stored.dtype == dtype and q.signed is signed
    assert (q.slope, q.intercept) == ("1.0", "0.0") and q.exact and not q.rescaled
    np.testing.assert_array_equal(q.stored, data.astype(np.int64))


def test_wide_integers_with_small_range_use_an_exact_offset() -> None:
    data = np.array([100000, 100001, 165535], dtype=np.int64)
    q = quantize(data)
    assert q.exact and float(q.slope) == 1.0 and float(q.intercept) == 100000
    np.testing.assert_array_equal(_restore(q), data)


def test_float32_over_7_rounds_within_documented_bound() -> None:
    data = np.arange(0, 1000, dtype=np.float32) / 7
    q = quantize(data)
    err = np.abs(_restore(q) - data.astype(np.float64)).max()
    bound = (float(data.max()) - float(data.min())) / (2 * UINT16_MAX)
    assert err == pytest.approx(q.max_error)
    assert err <= bound * (1 + 1e-9)
    # truncating instead of rounding (imagedata 3.x) is off by up to a whole step
    truncated = np.floor((data - float(q.intercept)) / float(q.slope)) * float(q.slope)
    assert np.abs(truncated + float(q.intercept) - data).max() > 1.5 * err
    assert q.stored.dtype == np.uint16 and int(q.stored.max()) == UINT16_MAX


def test_rounding_not_truncation() -> None:
    # 0.9 of a step must round up to 1, not truncate to 0
    data = np.array([0.0, 0.9, 1.0 * UINT16_MAX]) * 1.0
    q = quantize(data)
    assert float(q.slope) == 1.0 or q.stored[1] == 1
    data = np.array([0.0, 0.6, 1.0, 2.0]) / 7
    q = quantize(data)
    assert np.abs(_restore(q) - data).max() <= float(q.slope) / 2 * (1 + 1e-9)


def test_nan_is_counted_and_written_as_intercept() -> None:
    q = quantize(np.array([np.nan, 1.5, 2.25, np.inf]))
    assert q.nonfinite == 2 and (q.vmin, q.vmax) == (1.5, 2.25)
    assert q.stored[0] == 0 and q.stored[3] == 0 and q.stored[2] == UINT16_MAX


def test_complex_is_an_error() -> None:
    with pytest.raises(WriteError, match="complex"):
        quantize(np.ones(3, dtype=np.complex64))


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.integers(1, 50),
        elements=st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    )
)
def test_error_never_exceeds_half_a_step(data: np.ndarray) -> None:
    q = quantize(data)
    err = np.abs(_restore(q) - data).max()
    assert err == pytest.approx(q.max_error, abs=1e-9)
    span = float(data.max() - data.min())
    assert err <= span / (2 * UINT16_MAX) * (1 + 1e-6) + 1e-9 * max(1.0, abs(data).max())


@pytest.mark.parametrize("value", [1 / 3, -123456.7890123456, 1e-20, 2.5e17, 0.0, -0.0, 42.0])
def test_ds_strings_are_valid(value: float) -> None:
    s = ds_str(value)
    assert len(s) <= 16 and float(s) == pytest.approx(value, rel=1e-12, abs=1e-30)

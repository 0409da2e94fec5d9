"""The NIfTI writer's shortcuts give exactly what the general paths give.

The writer computes some things itself instead of calling the general (slower) code:
the qform (:func:`imagedata.geometry.nifti_qform` instead of nibabel's
``Nifti1Header.set_qform``) and the sidecar's JSON text (:func:`_bids.sidecar_text`
instead of ``json.dumps`` with its Python encoder).  Each must give the same bits, on
generated input as on real series (tests/formats/test_nifti_write.py compares whole
files).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagedata import geometry
from imagedata.formats import _bids
from imagedata.formats import nifti as nifti_module
from tests.conftest import quaternion_rotation

nib = pytest.importorskip("nibabel")

_finite = st.floats(-1.0, 1.0, allow_nan=False)


@st.composite
def nifti_affines(draw: st.DrawFn) -> np.ndarray:
    """Rotations (some exactly axis-aligned, some a hair off), flips, zooms, shears."""
    kind = draw(st.sampled_from(["axis", "near-axis", "oblique", "sheared"]))
    if kind == "axis":
        perm = draw(st.permutations([0, 1, 2]))
        r = np.eye(3)[list(perm)]
    else:
        quadruples = st.tuples(_finite, _finite, _finite, _finite)
        q = draw(quadruples.filter(lambda v: sum(map(abs, v)) > 0.1))
        r = quaternion_rotation(q)
        if kind == "near-axis":
            r = np.eye(3) + (r - np.eye(3)) * draw(st.sampled_from([1e-9, 1e-6, 1e-3]))
    signs = draw(st.tuples(*[st.sampled_from([-1.0, 1.0])] * 3))
    zooms = draw(st.tuples(*[st.floats(0.05, 12.0)] * 3))
    rzs = r * np.asarray(signs) * np.asarray(zooms)
    if kind == "sheared":
        rzs[:, 2] += rzs[:, 1] * draw(st.floats(-0.3, 0.3))
    m = np.eye(4)
    m[:3, :3] = rzs
    m[:3, 3] = draw(st.tuples(*[st.floats(-300.0, 300.0)] * 3))
    return m


def _same_header_fields(m: np.ndarray) -> None:
    ref = nib.Nifti1Header()
    ref.set_qform(m, code=1)
    ours = nib.Nifti1Header()
    nifti_module._set_qform(ours, m)
    assert ours.binaryblock == ref.binaryblock, m.tolist()


@settings(max_examples=400, deadline=None)
@given(nifti_affines())
def test_qform_same_bits_as_nibabel(m: np.ndarray) -> None:
    _same_header_fields(m)


def test_qform_same_bits_on_written_affines() -> None:
    """Affines as the writer makes them: axial, sagittal, coronal, oblique, 2D, tilted."""
    cases = [
        geometry.default_affine(),
        geometry.affine_from_parts((-100, -120, -50), (0, 1, 0, 0, 0, -1), (0.9, 0.9), 1.2),
        geometry.affine_from_parts((10, 20, 30), (1, 0, 0, 0, 0, -1), (0.5, 0.5), 3.0),
        geometry.affine_from_parts(
            (1, 2, 3), (0.9987, 0.0, 0.0511, -0.0013, 0.9997, 0.0254), (0.75, 0.75), 4.0
        ),
    ]
    tilted = geometry.default_affine()
    tilted[:3, 0] = [0.0, 0.3, 1.0]
    cases.append(tilted)
    for a in cases:
        _same_header_fields(geometry.nifti_from_affine(a))


def test_qform_degenerate_and_non_finite_as_nibabel() -> None:
    """A singular matrix (sign from numpy's det) and NaN (nibabel's error) as nibabel."""
    flat = np.diag([1.0, 1.0, 1.0, 1.0])
    flat[:3, 2] = [1.0, 1e-12, 0.0]  # third column almost the first
    _same_header_fields(flat)
    bad = np.diag([1.0, np.nan, 1.0, 1.0])
    with pytest.raises(Exception) as ref_err:
        nib.Nifti1Header().set_qform(bad, code=1)
    with pytest.raises(type(ref_err.value)):
        nifti_module._set_qform(nib.Nifti1Header(), bad)


def test_qform_of_a_zero_column_as_nibabel() -> None:
    """A zero column: nibabel's own error and warnings, not the shortcut's."""
    import warnings

    zero = np.diag([1.0, 0.0, 1.0, 1.0])
    with warnings.catch_warnings(record=True) as ref_warnings, pytest.raises(Exception) as ref:
        warnings.simplefilter("always")
        nib.Nifti1Header().set_qform(zero, code=1)
    with warnings.catch_warnings(record=True) as our_warnings, pytest.raises(type(ref.value)):
        warnings.simplefilter("always")
        nifti_module._set_qform(nib.Nifti1Header(), zero)
    assert [str(w.message) for w in our_warnings] == [str(w.message) for w in ref_warnings]


# --- the sidecar's JSON text ----------------------------------------------------------------

_json_scalars = (
    st.text(max_size=12)
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.none()
)
_json_values = _json_scalars | st.lists(_json_scalars, max_size=4)
_json_docs = st.dictionaries(
    st.text(max_size=8), _json_values | st.dictionaries(st.text(), _json_scalars)
)


@settings(max_examples=400, deadline=None)
@given(_json_docs)
def test_sidecar_text_same_as_json_dumps(doc: dict) -> None:
    assert _bids.sidecar_text(doc) == json.dumps(doc, indent="\t") + "\n"


def test_sidecar_text_of_other_types_by_json() -> None:
    """Values json writes by their type's own rules (numpy numbers, tuples) go to json."""
    doc = {"a": np.float64(0.1), "b": (1, 2), "c": [np.int16(3)], "d": 1}
    with pytest.raises(TypeError):
        json.dumps(doc, indent="\t")
    with pytest.raises(TypeError):
        _bids.sidecar_text(doc)
    doc = {"a": np.float64(0.1), "b": (1, 2)}
    assert _bids.sidecar_text(doc) == json.dumps(doc, indent="\t") + "\n"

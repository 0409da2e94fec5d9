"""Fuzzing the readers: every damaged input ends in the right array or a typed error.

Two bounded, re-runnable parts (fixed seeds; hypothesis derandomized, no example
database): a mutation corpus of damaged DICOM files (see ``_corpus.py``) and
hypothesis-chosen damage to DICOM, NIfTI, MetaImage and NRRD headers.  Outcomes are
counted and printed (``pytest -s``); docs/robustness.md has the figures of a larger
run (``bench/bench_robustness.py``).
"""

from __future__ import annotations

import random
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from _corpus import FAILURES, MUTATIONS, Base, bases, judge, mutant, run_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagedata import read
from imagedata.errors import ImageDataError

_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_mutation_corpus(tmp_path: Path) -> None:
    failed: list[str] = []
    counts = run_corpus(tmp_path, 150, seed=2026, failed=failed)
    print("\nmutation corpus:", dict(counts.most_common()))
    assert not failed, "\n".join(failed)
    assert counts["ReadError"] > 30  # the corpus does damage files
    assert any(k.startswith("skip_broken: read") for k in counts)


@pytest.fixture(scope="module")
def dicom_bases(tmp_path_factory: pytest.TempPathFactory) -> list[Base]:
    return bases(tmp_path_factory.mktemp("bases"))


@_SETTINGS
@given(
    which=st.sampled_from(["native", "rle"]),
    mutation=st.sampled_from(sorted(MUTATIONS)),
    index=st.integers(0, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_dicom_damage(
    dicom_bases: list[Base], tmp_path: Path, which: str, mutation: str, index: int, seed: int
) -> None:
    base = next(b for b in dicom_bases if b.label == which)
    folder, victim = mutant(base, tmp_path / f"h{seed}", index, mutation, random.Random(seed))
    outcome = judge(folder, victim, base.data)
    assert not any(f in outcome for f in FAILURES), f"{outcome}: {mutation} of {which}[{index}]"


def _outcome(path: Path, truth: np.ndarray) -> str:
    try:
        arr, _ = read(path)
    except ImageDataError as err:
        assert path.name in str(err), str(err)
        return type(err).__name__
    return "read" if arr.shape == truth.shape else f"read {arr.shape}"


@pytest.fixture(scope="module")
def single_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, np.ndarray]]:
    pytest.importorskip("nibabel", reason="the [nifti] extra is not installed")
    pytest.importorskip("SimpleITK", reason="the [itk] extra is not installed")
    from imagedata import Series

    folder = tmp_path_factory.mktemp("single")
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    out = {}
    for ext in (".nii", ".mha", ".nrrd"):
        Series(data).write(folder / f"a{ext}")
        out[ext] = ((folder / f"a{ext}").read_bytes(), data)
    return out


_counts: Counter[str] = Counter()


@_SETTINGS
@given(
    dims=st.lists(
        st.one_of(st.sampled_from([1, 4, 5, 6]), st.integers(-(2**15), 2**15 - 1)),
        min_size=3,
        max_size=7,
    ),
    datatype=st.sampled_from([2, 4, 8, 16, 64, 256, 512, 768, 0, 1, 999]),
)
def test_nifti_header_damage(
    single_files: dict[str, tuple[bytes, np.ndarray]],
    tmp_path: Path,
    dims: list[int],
    datatype: int,
) -> None:
    raw, truth = single_files[".nii"]
    b = bytearray(raw)
    struct.pack_into("<8h", b, 40, len(dims), *(dims + [1] * (7 - len(dims))))
    struct.pack_into("<h", b, 70, datatype)
    path = tmp_path / f"d{abs(hash((tuple(dims), datatype)))}.nii"
    path.write_bytes(bytes(b))
    outcome = _outcome(path, truth)
    _counts["nifti " + outcome] += 1


@_SETTINGS
@given(
    ext=st.sampled_from([".mha", ".nrrd"]),
    sizes=st.lists(st.integers(-5, 2**40), min_size=3, max_size=3),
    cut=st.integers(0, 400),
)
def test_itk_header_damage(
    single_files: dict[str, tuple[bytes, np.ndarray]],
    tmp_path: Path,
    ext: str,
    sizes: list[int],
    cut: int,
) -> None:
    raw, truth = single_files[ext]
    key = b"DimSize = " if ext == ".mha" else b"sizes: "
    i = raw.index(key)
    j = raw.index(b"\n", i)
    text = raw[:i] + key + " ".join(str(n) for n in sizes).encode() + raw[j:]
    if cut:
        text = text[: len(text) - cut]
    path = tmp_path / f"d{abs(hash((tuple(sizes), cut)))}{ext}"
    path.write_bytes(text)
    _counts[ext + " " + _outcome(path, truth)] += 1


def test_print_header_fuzz_counts() -> None:
    print("\nheader fuzz:", dict(_counts.most_common()))

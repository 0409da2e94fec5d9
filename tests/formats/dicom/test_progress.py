"""The ``progress=`` hook of the DICOM reader and writer."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imagedata._progress import MAX_STEP, Reporter, resolved
from imagedata.archives import expand
from imagedata.formats.dicom.reader import read_series
from imagedata.loadsave import read
from imagedata.series import Series
from imagedata.testing import make_dicom_series


class Calls:
    """A progress callback recording its calls (and the threads they came from)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int | None, str]] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int | None, stage: str) -> None:
        with self._lock:
            self.calls.append((done, total, stage))
            self.threads.add(threading.current_thread().name)

    def stages(self) -> list[str]:
        """The stages in the order they were reported (each once)."""
        out: list[str] = []
        for _, _, stage in self.calls:
            if not out or out[-1] != stage:
                out.append(stage)
        return out

    def of(self, stage: str) -> list[tuple[int, int | None]]:
        return [(d, t) for d, t, s in self.calls if s == stage]


def check_stage(calls: Calls, stage: str, total: int) -> list[int]:
    """The done counts of `stage`: strictly increasing, ending at `total`, throttled."""
    seen = calls.of(stage)
    assert seen, f"no {stage!r} report in {calls.calls}"
    done = [d for d, _ in seen]
    assert all(t == total for _, t in seen), seen
    assert done == sorted(set(done)), f"not strictly increasing: {done}"
    assert done[-1] == total
    step = max(1, min(MAX_STEP, -(-total // 100)))
    assert len(done) <= total // step + 1
    return done


def test_3d_series_reports_headers_then_pixels(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "s", shape=(7, 6, 8))
    calls = Calls()
    si = Series(truth.path, progress=calls)
    np.testing.assert_array_equal(si, truth.data)
    assert calls.stages() == ["headers", "pixels"]
    assert check_stage(calls, "headers", 7) == list(range(1, 8))
    assert check_stage(calls, "pixels", 7)[-1] == 7


def test_4d_series_counts_every_image(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "s", shape=(3, 5, 6, 8), order="time")
    calls = Calls()
    arr, _ = read(truth.path, input_order="time", progress=calls)
    assert arr.shape == (3, 5, 6, 8)
    assert calls.stages() == ["headers", "pixels"]
    check_stage(calls, "headers", 15)
    check_stage(calls, "pixels", 15)


def test_many_files_are_throttled_and_decoded_in_threads(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "s", shape=(230, 4, 4))
    (tmp_path / "s" / "notes.txt").write_text("not DICOM")  # read and skipped: still counted
    calls = Calls()
    members = expand(truth.path)
    arr, _ = read_series(members, progress=calls, workers=4)
    assert arr.shape == (230, 4, 4)
    headers = check_stage(calls, "headers", 231)
    assert headers[:3] == [3, 6, 9]  # every 3 files (1 % of 231, rounded up)
    pixels = check_stage(calls, "pixels", 230)
    assert len(pixels) <= 230 // 3 + 1
    assert any(name != threading.main_thread().name for name in calls.threads)


def test_compressed_files_decoded_in_threads(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "s", shape=(6, 6, 8))
    Series(truth.path).write(tmp_path / "rle", formats=["dicom"], compression="rle")
    calls = Calls()
    arr, _ = read_series(expand(tmp_path / "rle"), progress=calls, workers=4)
    np.testing.assert_array_equal(arr, truth.data)
    check_stage(calls, "headers", 6)
    assert check_stage(calls, "pixels", 6) == [1, 2, 3, 4, 5, 6]


def test_enhanced_multiframe_file(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "s", shape=(3, 4, 6, 8), order="time")
    si = Series(truth.path, input_order="time")
    written = Calls()
    files = si.write(tmp_path / "enh", formats=["dicom"], enhanced=True, progress=written)
    assert len(files) == 1
    assert written.calls == [(12, 12, "write")]
    calls = Calls()
    back = Series(tmp_path / "enh", input_order="time", progress=calls)
    np.testing.assert_array_equal(back, truth.data)
    assert calls.stages() == ["headers", "pixels"]
    assert check_stage(calls, "headers", 1) == [1]
    assert check_stage(calls, "pixels", 12) == [12]  # 12 frames of one file, at once


def test_mosaic_counts_tiles(tmp_path: Path) -> None:
    pytest.importorskip("nibabel")
    from tests.formats.dicom._readutil import nibabel_file

    f = nibabel_file("siemens_dwi_1000.dcm.gz", tmp_path)
    calls = Calls()
    arr, _ = read(f, progress=calls)
    assert arr.shape == (48, 128, 128)
    assert check_stage(calls, "headers", 1) == [1]
    assert check_stage(calls, "pixels", 48) == [48]


def test_headers_only_reports_the_header_pass_only(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "s", shape=(4, 6, 8))
    calls = Calls()
    Series(truth.path, headers_only=True, progress=calls)
    assert calls.stages() == ["headers"]
    check_stage(calls, "headers", 4)


def test_skipped_broken_file_is_counted(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "s", shape=(4, 6, 8))
    broken = truth.files[0]
    broken.write_bytes(broken.read_bytes()[:-10])  # truncated pixel data
    calls = Calls()
    with pytest.warns(UserWarning, match="skipped broken file"):
        arr, _ = read(truth.path, skip_broken=True, progress=calls)
    assert arr.shape[0] == 3
    check_stage(calls, "headers", 4)
    check_stage(calls, "pixels", 3)


@pytest.mark.parametrize("target", ["out", "out.zip"])
def test_write_reports_images_written(tmp_path: Path, target: str) -> None:
    truth = make_dicom_series(tmp_path / "s", shape=(2, 3, 6, 8), order="time")
    si = Series(truth.path, input_order="time")
    calls = Calls()
    si.write(tmp_path / target, formats=["dicom"], progress=calls)
    assert calls.stages() == ["write"]
    assert check_stage(calls, "write", 6) == [1, 2, 3, 4, 5, 6]


def test_an_error_in_the_callback_stops_the_read(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "s", shape=(5, 6, 8))

    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int | None, stage: str) -> None:
        if stage == "pixels":
            raise Cancelled

    with pytest.raises(Cancelled):
        Series(truth.path, progress=cancel)


def test_progress_true_draws_a_bar_even_off_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tqdm")
    truth = make_dicom_series(tmp_path / "s", shape=(4, 6, 8))
    si = Series(truth.path, progress=True)
    np.testing.assert_array_equal(si, truth.data)
    err = capsys.readouterr().err
    assert "headers" in err and "pixels" in err and "/4 " in err
    si.write(tmp_path / "out", formats=["dicom"], progress=True)
    assert "write" in capsys.readouterr().err


def test_default_and_none_are_quiet_off_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = make_dicom_series(tmp_path / "s", shape=(4, 6, 8))
    Series(truth.path)
    Series(truth.path, progress=None)  # a bar only on a terminal
    Series(truth.path, progress=False).write(tmp_path / "out", formats=["dicom"], progress=None)
    assert capsys.readouterr().err == ""


def test_none_draws_a_bar_on_a_terminal_and_false_never(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tqdm")
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    truth = make_dicom_series(tmp_path / "s", shape=(4, 6, 8))
    quiet = Tty()
    monkeypatch.setattr("sys.stderr", quiet)
    Series(truth.path, progress=False).write(tmp_path / "a", formats=["dicom"])
    Series(truth.path)  # the default is quiet too
    assert quiet.getvalue() == ""
    tty = Tty()
    monkeypatch.setattr("sys.stderr", tty)
    Series(truth.path, progress=None).write(tmp_path / "b", formats=["dicom"], progress=None)
    assert all(stage in tty.getvalue() for stage in ("headers", "pixels", "write"))


def test_bad_progress_value_is_refused(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "s", shape=(2, 6, 8))
    with pytest.raises(TypeError, match="progress='yes'"):
        Series(truth.path, progress="yes")


def test_single_file_formats_accept_and_ignore_progress(tmp_path: Path) -> None:
    pytest.importorskip("nibabel")
    truth = make_dicom_series(tmp_path / "s", shape=(3, 6, 8))
    si = Series(truth.path)
    calls = Calls()
    for name in ("x.nii.gz", "x.mha", "x.nrrd"):
        if name.endswith((".mha", ".nrrd")):
            pytest.importorskip("SimpleITK")
        si.write(tmp_path / name, progress=calls)
        back = Series(tmp_path / name, progress=calls)
        np.testing.assert_array_equal(back, truth.data)
    assert calls.calls == []


def test_reporter_is_thread_safe() -> None:
    calls = Calls()
    report = Reporter(calls, 8000, "pixels")

    def work() -> None:
        for _ in range(1000):
            report.advance()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report.finish()
    done = check_stage(calls, "pixels", 8000)
    assert report.done == 8000 and len(done) == 8000 // 50


def test_reporter_unknown_total_and_finish() -> None:
    calls = Calls()
    report = Reporter(calls, None, "headers")
    for _ in range(120):
        report.advance()
    report.finish()
    assert [d for d, _, _ in calls.calls] == [50, 100, 120]
    empty = Calls()
    Reporter(empty, 0, "pixels").finish()
    assert empty.calls == [(0, 0, "pixels")]


def test_resolved_values() -> None:
    def f(*a: Any) -> None:
        pass

    with resolved(f) as cb:
        assert cb is f
    with resolved(False) as cb:
        assert cb is None
    with resolved(None) as cb:  # pytest's stderr is not a terminal
        assert cb is None


def _pools(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the thread pools the pixel reader starts (their sizes)."""
    from concurrent.futures import ThreadPoolExecutor

    from imagedata.formats.dicom import _pixels

    started: list[int] = []

    def pool(max_workers: int) -> ThreadPoolExecutor:
        started.append(max_workers)
        return ThreadPoolExecutor(max_workers=max_workers)

    monkeypatch.setattr(_pixels, "ThreadPoolExecutor", pool)
    return started


def test_small_uncompressed_series_read_without_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files read straight into the array: a pool would cost more than the reading."""
    started = _pools(monkeypatch)
    truth = make_dicom_series(tmp_path / "s", shape=(12, 6, 8))
    arr, _ = read_series(expand(truth.path))
    np.testing.assert_array_equal(arr, truth.data)
    assert started == []
    arr, _ = read_series(expand(truth.path), workers=3)  # asked for: threads
    np.testing.assert_array_equal(arr, truth.data)
    assert started == [3]


def test_compressed_series_decoded_by_default_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _pools(monkeypatch)
    truth = make_dicom_series(tmp_path / "s", shape=(6, 6, 8))
    Series(truth.path).write(tmp_path / "rle", formats=["dicom"], compression="rle")
    arr, _ = read_series(expand(tmp_path / "rle"))
    np.testing.assert_array_equal(arr, truth.data)
    assert started == [min(8, (os.cpu_count() or 1) * 2)]

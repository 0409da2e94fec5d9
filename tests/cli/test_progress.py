"""Progress bars of the subcommands: per-file bars on a terminal, nothing off it or with -q.

A terminal is simulated by making ``_common.is_terminal`` true; tqdm then writes to the
captured stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagedata.cli import _common, calc, convert, info, show, stats

from .conftest import run_main

pytest.importorskip("tqdm")


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend stderr is a terminal."""
    monkeypatch.setattr(_common, "is_terminal", lambda stream=None: True)


def _dicom(tmp_path: Path, shape: tuple[int, ...] = (3, 4, 6, 8)) -> Path:
    from imagedata.testing import make_dicom_series

    return make_dicom_series(tmp_path / "in", shape, order="time").path


def _stages(err: str) -> set[str]:
    return {s for s in ("(headers)", "(pixels)", "(images)", "(transfer)") if s in err}


def test_convert_on_a_terminal_shows_each_stage(tmp_path: Path, capsys: Any, terminal: None):
    src = _dicom(tmp_path)
    code, _, err = run_main(convert.main, [src, tmp_path / "out"], capsys)
    assert code == 0
    assert f"reading {src} (headers)" in err
    assert f"reading {src} (pixels)" in err
    assert f"writing {tmp_path / 'out'} (images)" in err
    assert "/12 " in err  # 3 x 4 images
    assert "writing dicom" not in err  # no bar over the series for one series


def test_convert_quiet_or_off_terminal_shows_nothing(tmp_path: Path, capsys: Any, monkeypatch):
    src = _dicom(tmp_path)
    code, out, err = run_main(convert.main, [src, tmp_path / "a"], capsys)  # not a terminal
    assert (code, err) == (0, "")
    monkeypatch.setattr(_common, "is_terminal", lambda stream=None: True)
    code, out, err = run_main(convert.main, [src, tmp_path / "b", "--quiet"], capsys)
    assert (code, out, err) == (0, "", "")


def test_info_shows_the_header_pass_only(tmp_path: Path, capsys: Any, terminal: None):
    src = _dicom(tmp_path)
    code, out, err = run_main(info.main, [src], capsys)
    assert code == 0 and "Series" in out
    assert _stages(err) == {"(headers)"}
    code, _, err = run_main(info.main, [src, "-q"], capsys)
    assert (code, err) == (0, "")


def test_stats_and_show_show_the_read(tmp_path: Path, capsys: Any, terminal: None):
    pytest.importorskip("matplotlib")
    src = _dicom(tmp_path)
    code, _, err = run_main(stats.main, [src], capsys)
    assert code == 0 and _stages(err) == {"(headers)", "(pixels)"}
    png = tmp_path / "m.png"
    code, _, err = run_main(show.main, [src, "-o", png], capsys)
    assert code == 0 and png.exists() and _stages(err) == {"(headers)", "(pixels)"}
    code, _, err = run_main(show.main, [src, "-o", png, "-q"], capsys)
    assert (code, err) == (0, "")


def test_calc_shows_reads_and_the_write(tmp_path: Path, capsys: Any, terminal: None):
    src = _dicom(tmp_path)
    out = tmp_path / "diff"
    code, _, err = run_main(calc.main, ["a * 2", out, f"a={src}", "--to", "dicom"], capsys)
    assert code == 0, err
    assert _stages(err) == {"(headers)", "(pixels)", "(images)"}


def test_several_series_report_the_pixels_of_each(tmp_path: Path, capsys: Any, terminal: None):
    from imagedata.testing import make_dicom_series

    make_dicom_series(tmp_path / "in" / "a", (3, 6, 8), SeriesNumber=1)
    make_dicom_series(tmp_path / "in" / "b", (5, 6, 8), SeriesNumber=2)
    code, _, err = run_main(convert.main, [tmp_path / "in", tmp_path / "out"], capsys)
    assert code == 0, err
    assert {"(headers)", "(pixels)", "(images)"} <= _stages(err)
    assert "/3 " in err and "/5 " in err
    assert "writing dicom:" in err  # and a bar over the two series


def test_single_file_formats_show_the_elapsed_time(
    nifti_input: Any, tmp_path: Path, capsys: Any, terminal: None
):
    path, _ = nifti_input
    code, _, err = run_main(convert.main, [path, tmp_path / "o.nii.gz"], capsys)
    assert code == 0
    assert f"reading {path}: 00:0" in err  # no per-file hook: the elapsed-time line
    assert _stages(err) == set()


def test_activity_callback_takes_transport_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    monkeypatch.setattr("sys.stderr", tty)
    with _common.activity("reading dicom://pacs/x") as progress:
        assert progress is not None
        progress(1, 2)  # the network transports call f(done, expected)
        progress(2, 2)
        progress(1, 4, "pixels")
    assert "reading dicom://pacs/x (transfer)" in tty.getvalue()
    assert "reading dicom://pacs/x (pixels)" in tty.getvalue()
    with _common.activity("x", quiet=True) as progress:
        assert progress is None

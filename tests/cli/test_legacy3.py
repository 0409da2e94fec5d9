"""The imagedata 3.x commands: image_data's 3.x options, image_calculator, image_statistics,
timeline (3.x command lines, output as 3.10 prints it on the same data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagedata.cli import convert, legacy3
from imagedata.series import Series
from imagedata.testing import make_dicom_series


@pytest.fixture
def dyn(tmp_path: Path) -> Path:
    make_dicom_series(tmp_path / "dyn", (3, 2, 4, 6), order="time")
    return tmp_path / "dyn"


def test_image_data_3x_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = make_dicom_series(tmp_path / "ti", (4, 2, 4, 6), order="ti", tag_values=[1, 2, 3, 4])
    out = tmp_path / "out" / "%p"
    argv = [str(out), str(truth.path), "--of", "dicom", "--order", "ti", "--serdes", "X"]
    argv += ["--sernum", "5", "--imagetype", "DERIVED,SECONDARY", "--odir", "multi"]
    argv += ["--sort", "tag", "--dtype", "int", "-q"]
    assert convert.main(argv, legacy=True) == 0
    folder = tmp_path / "out" / "dicom"
    # --odir multi with --sort tag: one folder per slice, tags in order inside
    assert sorted(p.name for p in folder.iterdir()) == ["slice0", "slice1"]
    back = Series(folder, "ti")
    np.testing.assert_array_equal(np.asarray(back), truth.data)
    assert (back.seriesDescription, back.seriesNumber) == ("X", 5)
    assert back.imageType[:2] == ["DERIVED", "SECONDARY"]
    # --input_options names a tag after a DICOM keyword: written with its values
    argv = [str(tmp_path / "o2"), str(truth.path), "--order", "inv"]
    argv += ["--input_options", "inv=InversionTime", "-q"]
    assert convert.main(argv, legacy=True) == 0
    assert Series(tmp_path / "o2", "ti").axes.ti.values.tolist() == [1, 2, 3, 4]


def test_image_data_unsupported_option(dyn: Path, tmp_path: Path, capsys) -> None:
    assert convert.main([str(tmp_path / "o"), str(dyn), "--correct_acq"], legacy=True) == 1
    err = capsys.readouterr().err
    assert "correct_acq" in err and "not supported" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_image_calculator(dyn: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "calc"
    assert legacy3.calculator_main([str(out), "a*2+1", str(dyn)]) == 0
    printed = capsys.readouterr().out
    assert f"a = {dyn} (3, 2, 4, 6) uint16" in printed
    a = Series(dyn, "time")
    np.testing.assert_allclose(np.asarray(Series(out, "time")), np.asarray(a) * 2.0 + 1)
    assert legacy3.calculator_main([str(out), "a", str(dyn)]) == 2  # existing output refused
    assert "already exists" in capsys.readouterr().err
    assert legacy3.calculator_main([str(tmp_path / "x"), "__import__('os')", str(dyn)]) == 2


def test_image_statistics(dyn: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert legacy3.statistics_main([str(dyn)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("  Patient: SYN0001") and out[2].startswith("    Study: 2024-02-29")
    assert "Series [" in out[3] and "shape: 3x2x4x6" in out[3]
    data = np.asarray(Series(dyn, "time"), dtype=np.float64)
    assert out[4].strip() == (
        f"Min: {data.min()}, max: {data.max()}, mean: {data.mean()} +/- {data.std()}, "
        f"median: {np.median(data)}"
    )
    assert legacy3.statistics_main([str(dyn), "--bash"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"max={data.max()}" in lines and lines[-1] == "export min max mean std median"


def test_timeline(dyn: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert legacy3.timeline_main(["-1", str(dyn)]) == 0
    assert capsys.readouterr().out.split() == ["t", "[s]", "0.0", "2.5", "5.0"]
    assert legacy3.timeline_main([str(dyn)]) == 0
    assert capsys.readouterr().out.startswith("Timeline:\n[0.  2.5 5. ]")


def test_timeline_without_time_axis_is_one_line(tmp_path: Path, capsys) -> None:
    make_dicom_series(tmp_path, (3, 4, 6))
    assert legacy3.timeline_main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("timeline: ") and "no time axis" in err and len(err.splitlines()) == 1


def test_console_scripts_are_declared() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[2]
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    for name in ("image_data", "image_calculator", "image_statistics", "timeline"):
        module, _, func = scripts[name].partition(":")
        mod = __import__(module, fromlist=[func])
        assert callable(getattr(mod, func))

"""``imagedata show``: PNG montages headless (and the viewer when a display exists)."""

from __future__ import annotations

import numpy as np
import pytest

from imagedata import viewer
from imagedata.cli import show
from imagedata.series import Series

from .conftest import one_line, run_main, run_script

pytest.importorskip("matplotlib", reason="show needs matplotlib (imagedata[viewer])")


def read_png(path):
    import matplotlib.image as mpimg

    return np.round(mpimg.imread(str(path))[..., :3] * 255).astype(np.uint8)


@pytest.fixture(autouse=True)
def _headless(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("MPLBACKEND", "agg")


def test_montage_png_equals_the_viewer_rendering(dicom_study, tmp_path, capsys):
    truth = dicom_study["sag"]
    out = tmp_path / "sag.png"
    code, stdout, err = run_main(
        show.main, [truth.path, "-o", out, "--window", "100", "200"], capsys
    )
    assert (code, err) == (0, "")
    assert stdout.startswith(f"{out}: 6 slices, ")
    si = Series(str(truth.path))
    expected = viewer.render(si, tmp_path / "ref.png", window=(100, 200))
    png = read_png(out)
    assert png.shape[:2] == expected.size
    assert np.array_equal(png, read_png(tmp_path / "ref.png"))
    # tile 2 holds slice 2 of the data as the reader sorted it (sagittal: by n . S)
    sy, sx = expected.scale
    r0, c0 = expected.layout.origin(2)
    th, tw = expected.layout.tile_shape
    tile = viewer.to_rgb(truth.data[2], window=(100, 200))
    assert np.array_equal(png[r0 : r0 + th, c0 : c0 + tw], np.repeat(np.repeat(tile, sy, 0), sx, 1))
    assert {(s, t) for _, s, t, _ in expected.labels} == {
        ("left", "A"),
        ("right", "P"),
        ("top", "H"),
        ("bottom", "F"),
    }


def test_one_slice_and_one_tag(dicom_study, tmp_path, capsys):
    truth = dicom_study["dyn"]
    out = tmp_path / "one.png"
    argv = [truth.path, "-o", out, "--slice", "3", "--tag", "2", "--window", "200", "400"]
    assert run_main(show.main, argv, capsys)[0] == 0
    ref = viewer.render(
        Series(str(truth.path)), tmp_path / "ref.png", slices=[3], tag=2, window=(200, 400)
    )
    assert len(ref.layout.slices) == 1
    assert np.array_equal(read_png(out), read_png(tmp_path / "ref.png"))
    assert ref.caption.endswith("time 5 s")
    sy, sx = ref.scale
    r0, c0 = ref.layout.origin(0)
    th, tw = ref.layout.tile_shape
    tile = np.repeat(np.repeat(viewer.to_rgb(truth.data[2, 3], window=(200, 400)), sy, 0), sx, 1)
    assert np.array_equal(read_png(out)[r0 : r0 + th, c0 : c0 + tw], tile)


def test_no_display_and_no_output_writes_a_png_named_after_the_input(
    dicom_study, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    code, stdout, _ = run_main(show.main, [dicom_study["cor"].path], capsys)
    assert code == 0
    assert "no display" in stdout
    assert (tmp_path / "s5.png").stat().st_size > 1000


def test_interactive_viewer_is_used_with_a_display(dicom_study, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(viewer, "is_headless", lambda: False)
    monkeypatch.setattr(viewer, "show", lambda si, **kw: calls.append((si.shape, kw)))
    argv = [dicom_study["dyn"].path, "--slice", "2", "--tag", "1", "--window", "10", "20"]
    assert run_main(show.main, argv, capsys)[0] == 0
    assert calls == [
        ((3, 5, 8, 10), {"window": (10.0, 20.0), "colormap": "gray", "slice": 2, "tag": 1})
    ]


@pytest.mark.parametrize(
    ("extra", "code", "expected"),
    [
        (["--slice", "99"], 1, "slice 99 is out of range: the series has 6 slices"),
        (["--slice", "a,b"], 2, "--slice 'a,b': expected K"),
        (["--tag", "5"], 1, "tag index 5 is out of range"),
        (["--window", "0", "0"], 1, "window width must be a positive number"),
        (["--colormap", "nope"], 1, "unknown colour map 'nope'"),
        (["--output", "x.jpg"], 2, "name it *.png"),
        (["--window", "5"], 2, "expected 2 arguments"),
    ],
)
def test_bad_options(dicom_study, tmp_path, capsys, extra, code, expected):
    path = dicom_study["dyn" if "--tag" in extra else "sag"].path
    if "--output" not in extra:
        extra = [*extra, "--output", tmp_path / "x.png"]
    got, _, err = run_main(show.main, [path, *extra], capsys)
    assert got == code
    assert expected in one_line(err)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("nope", None, "nope: no such file or folder"),
        ("garbage.dcm", b"\x00" * 50, "garbage.dcm"),
        ("notes.txt", b"hello\n" * 100, "not in a known format"),
    ],
)
def test_bad_input(tmp_path, capsys, name, content, expected):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    code, _, err = run_main(show.main, [path, "-o", tmp_path / "x.png"], capsys)
    assert code == 1
    assert expected in one_line(err)
    assert not (tmp_path / "x.png").exists()


def test_several_series_need_series(dicom_study, tmp_path, capsys):
    code, _, err = run_main(show.main, [dicom_study["root"], "-o", tmp_path / "x.png"], capsys)
    assert code == 1
    line = one_line(err)
    assert "holds 3 series" in line and "--series" in line
    assert (
        run_main(
            show.main, [dicom_study["root"], "-o", tmp_path / "x.png", "--series", "5"], capsys
        )[0]
        == 0
    )


def test_console_script(dicom_study, tmp_path):
    out = tmp_path / "m.png"
    done = run_script("imagedata", "show", dicom_study["sag"].path, "--output", out)
    assert done.returncode == 0, done.stderr
    assert read_png(out).shape[0] > 100
    bad = run_script("imagedata", "show", tmp_path / "nope", "--output", out)
    assert bad.returncode == 1 and one_line(bad.stderr).startswith("imagedata show: ")


def test_missing_matplotlib_names_the_extra(dicom_study, tmp_path, capsys, monkeypatch):
    import sys

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    code, _, err = run_main(show.main, [dicom_study["sag"].path, "-o", tmp_path / "x.png"], capsys)
    assert code == 1
    assert "pip install 'imagedata[viewer]'" in one_line(err)


def test_curve_over_a_seg_mask(dicom_study, tmp_path, capsys):
    """A SEG drawn on the first time point gives the mean signal curve over time."""
    pytest.importorskip("highdicom", reason="SEG needs highdicom (imagedata[derived])")
    dyn = Series(str(dicom_study["dyn"].path), input_order="time")
    mask = dyn[0] > float(np.median(dyn[0]))
    mask.write(tmp_path / "roi", formats=["dicom"], iod="seg", segments={1: "bright"})
    out = tmp_path / "curve.png"
    argv = [str(dicom_study["dyn"].path), "--order", "time", "--curve", str(tmp_path / "roi")]
    code, stdout, err = run_main(show.main, [*argv, "--output", str(out)], capsys)
    assert (code, err) == (0, "")
    data = np.asarray(dyn, dtype=np.float64)
    want = [data[t][np.asarray(mask)].mean() for t in range(dyn.shape[0])]
    times = dyn.timeline - dyn.timeline[0]
    values = ", ".join(f"{x:g}: {y:.6g}" for x, y in zip(times, want))
    n = int(np.asarray(mask).sum())
    assert one_line(stdout) == f"{out}: mean over {n} voxels by time (s): {values}"
    assert read_png(out).shape[0] > 100


def test_curve_refuses_a_mask_of_another_shape(dicom_study, tmp_path, capsys):
    sag = str(dicom_study["sag"].path)
    argv = [str(dicom_study["dyn"].path), "--order", "time", "--curve", sag]
    code, _, err = run_main(show.main, [*argv, "--output", str(tmp_path / "c.png")], capsys)
    assert code != 0
    assert "must cover the series' spatial axes" in one_line(err)

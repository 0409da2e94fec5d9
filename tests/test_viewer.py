"""The viewer: RGB conversion, montages, headless PNG rendering and the interactive Viewer.

PNGs are rendered with matplotlib's Agg canvas and read back; the tests check the
pixels (the expected slice in the expected tile), the orientation letters and where
they are drawn, and the caption.  The interactive viewer is driven with real
matplotlib events on an Agg figure.
"""

from __future__ import annotations

import numpy as np
import pytest

from imagedata import geometry, viewer
from imagedata.series import Series
from imagedata.testing import ORIENTATIONS, oblique_orientation, voxel_values

pytest.importorskip("matplotlib", reason="the viewer needs matplotlib (imagedata[viewer])")


def make_series(shape=(6, 20, 24), orientation="axial", spacing=(0.5, 0.8), tags=None) -> Series:
    """A Series whose voxel values encode (tag, slice, row, column), with real geometry."""
    data = voxel_values(shape, np.uint16)
    iop = ORIENTATIONS[orientation] if isinstance(orientation, str) else orientation
    si = Series(data)
    si.affine = geometry.affine_from_parts((-100.0, -120.0, -50.0), iop, spacing, 2.0)
    si.setDicomAttribute("PatientName", "Doe^Jane")
    si.setDicomAttribute("PatientID", "P123")
    si.setDicomAttribute("SeriesNumber", 7)
    si.setDicomAttribute("SeriesDescription", "T1 axial")
    if tags is not None:
        si.timeline = tags
    return si


def read_png(path):
    import matplotlib.image as mpimg

    img = mpimg.imread(str(path))
    assert img.dtype == np.float32
    return np.round(img[..., :3] * 255).astype(np.uint8)


# --- to_rgb ---------------------------------------------------------------------------------


def test_to_rgb_grey_maps_the_window_linearly():
    si = Series(np.array([[[0.0, 50.0, 100.0, 150.0]]]))
    rgb = si.to_rgb(window=(50, 100))
    assert rgb.shape == (1, 1, 4, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0, :, 0].tolist() == [0, 128, 255, 255]
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()


def test_to_rgb_auto_window_spans_the_data_and_nan_is_black():
    arr = np.array([[1.0, 2.0, np.nan, 3.0]])
    rgb = viewer.to_rgb(arr)
    assert rgb[0, :, 0].tolist() == [0, 128, 0, 255]


def test_to_rgb_colormap_matches_matplotlib():
    import matplotlib

    arr = np.linspace(0, 1, 11)[None, :]
    rgb = viewer.to_rgb(arr, colormap="viridis", window=(0.5, 1.0))
    expected = matplotlib.colormaps["viridis"](arr, bytes=True)[..., :3]
    assert np.array_equal(rgb, expected)
    assert not (rgb[..., 0] == rgb[..., 2]).all()  # really coloured


@pytest.mark.parametrize("window", [(0, 0), (0, -5), (1,), (np.nan, 1)])
def test_to_rgb_rejects_bad_windows(window):
    with pytest.raises(ValueError, match="window"):
        viewer.to_rgb(np.zeros((2, 2)), window=window)


def test_to_rgb_unknown_colormap_names_it():
    with pytest.raises(ValueError, match="unknown colour map 'nope'"):
        viewer.to_rgb(np.zeros((2, 2)), colormap="nope")


# --- montage ----------------------------------------------------------------------------


def test_montage_puts_each_slice_in_its_tile():
    si = make_series((7, 10, 12))
    win = (2000.0, 4000.0)
    m = si.montage(window=win, gap=3)
    lay = viewer.layout(si.shape, gap=3)
    assert (lay.columns, lay.rows) == (3, 3)
    assert m.shape == (*lay.shape, 3) == (3 * 10 + 4 * 3, 3 * 12 + 4 * 3, 3)
    for i, k in enumerate(lay.slices):
        r0, c0 = lay.origin(i)
        tile = m[r0 : r0 + 10, c0 : c0 + 12]
        assert np.array_equal(tile, viewer.to_rgb(si[k], window=win)), f"tile {i} is not slice {k}"
    # the gaps and the two unused tiles are black
    assert not m[:3].any() and not m[:, :3].any()
    r0, c0 = lay.origin(8)
    assert not m[r0 : r0 + 10, c0 : c0 + 12].any()


def test_montage_of_chosen_slices_and_tag():
    si = make_series((3, 5, 8, 9), tags=[0.0, 2.5, 5.0])
    win = (2000.0, 4000.0)
    m = si.montage(slices=[4, 1], tag=2, window=win, gap=0, columns=1)
    assert m.shape == (16, 9, 3)
    assert np.array_equal(m[:8], viewer.to_rgb(si[2, 4], window=win))
    assert np.array_equal(m[8:], viewer.to_rgb(si[2, 1], window=win))


def test_montage_limits_tiles_and_checks_indices():
    assert viewer.pick_slices(100, max_tiles=4) == (0, 33, 66, 99)
    assert viewer.pick_slices(5, [-1, 0]) == (4, 0)
    with pytest.raises(IndexError, match="slice 5 is out of range: the series has 5 slices"):
        viewer.pick_slices(5, [5])
    with pytest.raises(IndexError, match="tag index 3 is out of range"):
        viewer.montage(np.zeros((3, 2, 4, 4)), tag=3)


# --- orientation labels -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "expected"),
    [
        ("axial", {"left": "R", "right": "L", "top": "A", "bottom": "P"}),
        ("sagittal", {"left": "A", "right": "P", "top": "H", "bottom": "F"}),
        ("coronal", {"left": "R", "right": "L", "top": "H", "bottom": "F"}),
    ],
)
def test_orientation_labels(orientation, expected):
    affine = geometry.affine_from_parts((0, 0, 0), ORIENTATIONS[orientation], (0.5, 0.8), 2.0)
    assert viewer.orientation_labels(affine) == expected


def test_orientation_labels_follow_flips_and_oblique():
    # columns growing toward the patient's right, rows toward anterior (a flipped axial)
    flipped = geometry.affine_from_parts((0, 0, 0), (-1, 0, 0, 0, -1, 0), (1, 1), 1)
    expected = {"left": "L", "right": "R", "top": "P", "bottom": "A"}
    assert viewer.orientation_labels(flipped) == expected
    oblique = geometry.affine_from_parts((0, 0, 0), oblique_orientation(30.0, (0, 0, 1)), (1, 1), 1)
    labels = viewer.orientation_labels(oblique)
    assert labels["right"] == "LP" and labels["left"] == "RA"  # cos30=.87 along x, sin30=.5 along y


# --- PNG rendering --------------------------------------------------------------------------


def _tile_box(result, i):
    r0, c0 = result.layout.origin(i)
    th, tw = result.layout.tile_shape
    return r0, c0, r0 + th, c0 + tw


@pytest.mark.parametrize("orientation", ["axial", "sagittal"])
def test_render_png_tiles_labels_and_caption(tmp_path, orientation):
    si = make_series((5, 20, 24), orientation)
    win = (2000.0, 4000.0)
    out = tmp_path / "m.png"
    result = viewer.render(si, out, window=win)
    png = read_png(out)
    assert png.shape[:2] == result.size
    assert out.stat().st_size > 1000
    # the montage, upscaled by whole pixels, is in the PNG unchanged: slice k in tile i
    sy, sx = result.scale
    # tiles at least 128 pixels; row spacing 0.5, column spacing 0.8: pixels keep their aspect
    assert (sy, sx) == (7, round(7 * 0.8 / 0.5))
    for i, k in enumerate(result.layout.slices):
        top, left, bottom, right = _tile_box(result, i)
        expected = np.repeat(np.repeat(viewer.to_rgb(si[k], window=win), sy, 0), sx, 1)
        assert np.array_equal(png[top:bottom, left:right], expected), f"tile {i} is not slice {k}"
    # the letters, on the right sides of every tile, in the gaps, drawn in yellow
    letters = viewer.orientation_labels(si.affine)
    assert len(result.labels) == 4 * len(result.layout.slices)
    for tile, side, text, (y0, x0, y1, x1) in result.labels:
        assert text == letters[side]
        top, left, bottom, right = _tile_box(result, tile)
        cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
        gap = result.layout.gap
        where = {
            "left": left - gap < x0 and x1 <= left and top < cy < bottom,
            "right": right <= x0 and x1 < right + gap and top < cy < bottom,
            "top": top - gap < y0 and y1 <= top and left < cx < right,
            "bottom": bottom <= y0 and y1 < bottom + gap and left < cx < right,
        }
        assert where[side], f"label {text!r} of tile {tile} is not at its {side} side"
        box = png[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))].astype(int)
        yellow = (box[..., 0] > 200) & (box[..., 1] > 200) & (box[..., 2] < 80)
        assert yellow.sum() >= 4, f"no yellow letter drawn for {side} of tile {tile}"
    assert result.caption == (
        f"Doe Jane (P123)  |  series 7 T1 axial  |  spacing 2 x 0.5 x 0.8 mm  |  {orientation}"
    )
    caption_band = png[-result.size[0] + result.layout.shape[0] :]
    assert (caption_band > 200).all(axis=-1).sum() > 50  # white caption text is drawn


def test_render_4d_shows_the_chosen_tag(tmp_path):
    si = make_series((3, 2, 8, 8), tags=[0.0, 2.5, 5.0])
    win = (2000.0, 4000.0)
    result = viewer.render(si, tmp_path / "t.png", tag=1, window=win, labels=False)
    png = read_png(tmp_path / "t.png")
    sy, sx = result.scale
    top, left, bottom, right = _tile_box(result, 1)
    expected = np.repeat(np.repeat(viewer.to_rgb(si[1, 1], window=win), sy, 0), sx, 1)
    assert np.array_equal(png[top:bottom, left:right], expected)
    assert result.caption.endswith("time 2.5 s")
    assert result.labels == []


def test_render_of_a_plain_array(tmp_path):
    result = viewer.render(np.arange(64.0).reshape(1, 8, 8), tmp_path / "a.png")
    assert read_png(tmp_path / "a.png").shape[:2] == result.size
    assert {t for _, _, t, _ in result.labels} == {"R", "L", "A", "P"}


# --- interactive viewer ---------------------------------------------------------------------


@pytest.fixture
def agg_figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _events(fig):
    from matplotlib.backend_bases import KeyEvent, MouseEvent

    canvas = fig.canvas

    def key(k):
        KeyEvent("key_press_event", canvas, k)._process()

    def mouse(name, x, y, button=None, key=None, step=0):
        MouseEvent(name, canvas, x, y, button=button, key=key, step=step)._process()

    return key, mouse


def _pixel_xy(fig, ax, row, col):
    """Display coordinates of the centre of pixel (row, col) in `ax`."""
    fig.canvas.draw()
    return ax.transData.transform((col, row))


def test_viewer_scrolls_slices_and_tags_with_keys_and_wheel(agg_figure):
    si = make_series((3, 4, 8, 10), tags=[0.0, 2.5, 5.0])
    v = viewer.show(si, figure=agg_figure)
    assert (v.slice, v.tag, v.nslices, v.ntags) == (2, 0, 4, 3)
    key, mouse = _events(agg_figure)
    key("up")
    assert v.slice == 3
    key("up")  # clamped at the last slice
    assert v.slice == 3
    key("right")
    key("right")
    assert v.tag == 2
    x, y = _pixel_xy(agg_figure, v.panels[0].axes, 4, 5)
    mouse("scroll_event", x, y, button="down", step=-1)
    assert v.slice == 2
    mouse("scroll_event", x, y, button="down", key="shift", step=-1)
    assert v.tag == 1
    assert np.array_equal(v.panels[0].image.get_array(), np.asarray(si[1, 2]))
    assert "slice 3/4" in v.status.get_text() and "time 2.5 s" in v.status.get_text()


def test_viewer_reports_location_and_pixel_value_under_the_cursor(agg_figure):
    si = make_series((4, 8, 10))
    v = viewer.show(si, figure=agg_figure, slice=1)
    _, mouse = _events(agg_figure)
    x, y = _pixel_xy(agg_figure, v.panels[0].axes, 3, 7)
    mouse("motion_notify_event", x, y)
    text = v.status.get_text()
    assert f"location {si.sliceLocations[1]:.2f} mm" in text
    assert f"(3, 7) = {int(si[1, 3, 7])}" in text


def test_viewer_windows_by_mouse_drag(agg_figure):
    si = make_series((2, 8, 10))
    v = viewer.show(si, figure=agg_figure, window=(1000, 500))
    key, mouse = _events(agg_figure)
    x, y = _pixel_xy(agg_figure, v.panels[0].axes, 4, 5)
    mouse("button_press_event", x, y, button=1)
    mouse("motion_notify_event", x + 100, y + 20, button=1)
    mouse("button_release_event", x + 100, y + 20, button=1)
    c, w = v.panels[0].window
    assert w == pytest.approx(500 * np.exp(0.5))  # wider to the right
    assert c == pytest.approx(1000 - 20 * 500 / 200)  # darker up
    assert v.panels[0].image.get_clim() == pytest.approx((c - w / 2, c + w / 2))
    mouse("motion_notify_event", x + 300, y, button=None)  # no button: window unchanged
    assert v.panels[0].window == (c, w)
    key("r")
    assert v.panels[0].window == viewer.auto_window(si)


def test_viewer_links_two_series_side_by_side(agg_figure):
    a = make_series((4, 8, 10))
    b = Series(np.asarray(a) * 2.0, geometry=a)
    v = a.show(b, figure=agg_figure)
    assert len(v.panels) == 2 and v.panels[0].axes is not v.panels[1].axes
    key, mouse = _events(agg_figure)
    key("down")
    assert np.array_equal(v.panels[1].image.get_array(), np.asarray(b[1]))
    assert np.array_equal(v.panels[0].image.get_array(), np.asarray(a[1]))
    x, y = _pixel_xy(agg_figure, v.panels[1].axes, 2, 3)
    mouse("motion_notify_event", x, y)
    assert f"(2, 3) = {int(a[1, 2, 3])} | {float(b[1, 2, 3]):g}" in v.status.get_text()


def test_show_without_display_does_not_block(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    import matplotlib

    monkeypatch.setattr(matplotlib, "get_backend", lambda: "agg")
    assert viewer.is_headless()
    with pytest.warns(UserWarning, match="no display: the montage was written to") as record:
        v = viewer.show(make_series((2, 4, 4)))
    import matplotlib.pyplot as plt

    plt.close(v.figure)
    assert v.png is not None and str(v.png) in str(record[0].message)
    assert read_png(v.png).shape[0] > 100  # a real PNG montage
    v.png.unlink()


def test_show_without_display_writes_where_asked(monkeypatch, tmp_path):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    import matplotlib
    import matplotlib.pyplot as plt

    monkeypatch.setattr(matplotlib, "get_backend", lambda: "agg")
    si = make_series((3, 2, 8, 8), tags=[0.0, 1.0, 2.0])
    with pytest.warns(UserWarning, match="the first of 2 series"):
        v = viewer.show(si, si + 1, png=tmp_path / "s.png", tag=2, window=(2000.0, 4000.0))
    plt.close(v.figure)
    assert v.png == tmp_path / "s.png"
    direct = viewer.render(si, tmp_path / "d.png", tag=2, window=(2000.0, 4000.0))
    assert np.array_equal(read_png(v.png), read_png(direct.path))


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("orientation", ["axial", "oblique"])
def test_render_texts_never_run_into_each_other_or_a_tile(tmp_path, orientation):
    iop = oblique_orientation() if orientation == "oblique" else orientation
    si = make_series((6, 20, 24), iop)
    result = viewer.render(si, tmp_path / "m.png", window=(2000.0, 4000.0), columns=3)
    png = read_png(tmp_path / "m.png")
    tiles = [_tile_box(result, i) for i in range(len(result.layout.slices))]
    texts = [(tile, box) for tile, _, _, box in result.labels]
    texts += [(tile, box) for tile, _, box in result.slice_texts]
    assert len(result.slice_texts) == 6
    locations = si.header.slice_locations()
    for tile, text, (y0, x0, y1, x1) in result.slice_texts:
        assert text == f"slice {tile}, {locations[tile]:.1f} mm"
        _, left, bottom, right = tiles[tile]
        assert bottom < y0 and y1 < bottom + result.layout.gap  # under its own tile
        assert left < (x0 + x1) / 2 < right
        white = (png[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))] > 150).all(-1)
        assert white.sum() >= 10, f"no slice text drawn under tile {tile}"
    for j, (tile, box) in enumerate(texts):
        for k, (other, box2) in enumerate(texts):
            if k > j:
                assert not _overlap(box, box2), f"texts of tiles {tile} and {other} overlap"
        for i, tbox in enumerate(tiles):
            assert not _overlap(box, tbox), f"a text of tile {tile} runs into tile {i}"
        # nearer its own tile than any other (never mistaken for a neighbour's letter)
        cy, cx = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2

        def dist(t, cy=cy, cx=cx):
            dy = max(t[0] - cy, 0, cy - t[2])
            dx = max(t[1] - cx, 0, cx - t[3])
            return float(np.hypot(dy, dx))

        assert dist(tiles[tile]) < min(dist(t) for i, t in enumerate(tiles) if i != tile)


# --- real scanner data, checked against dcm2niix ------------------------------------------


@pytest.mark.parametrize("name", ["sag_ap", "sag_hf", "cor_hf", "cor_rl", "tra_rl"])
def test_labels_of_real_series_agree_with_dcm2niix(testdata, name):
    """The letter at the right edge is where dcm2niix's column axis points; the letter at
    the bottom where its row axis points before its row flip (GEOMETRY.md)."""
    nib = pytest.importorskip("nibabel")
    affine = nib.load(str(testdata / "nifti" / f"{name}.nii.gz")).affine
    lps = np.diag([-1.0, -1.0, 1.0]) @ affine[:3, :3]
    columns, rows = (lps[:, i] / np.linalg.norm(lps[:, i]) for i in (0, 1))
    si = Series(str(testdata / "dicom" / f"{name}.zip"))
    labels = viewer.orientation_labels(si.affine)
    assert labels["right"] == viewer.direction_letters(columns)
    assert labels["left"] == viewer.direction_letters(-columns)
    assert labels["bottom"] == viewer.direction_letters(-rows)  # dcm2niix flipped the rows
    assert labels["top"] == viewer.direction_letters(rows)
    expected_plane = {"sag": "sagittal", "cor": "coronal", "tra": "axial"}[name[:3]]
    assert geometry.orientation_name(si.affine) == expected_plane


# --- colour (RGB) series ----------------------------------------------------------------------


@pytest.fixture
def rgb_series():
    from pathlib import Path

    import pydicom

    path = Path(pydicom.__file__).parent / "data" / "test_files" / "SC_rgb_rle_2frame.dcm"
    if not path.exists():
        pytest.skip(f"{path.name} is not in this pydicom installation")
    return Series(str(path))


def test_rgb_series_montage_and_png_keep_the_colours(rgb_series, tmp_path):
    si = rgb_series
    assert viewer.is_rgb(si) and si.shape == (2, 100, 100, 3)
    m = si.montage(gap=0)
    assert m.shape == (100, 200, 3)
    assert np.array_equal(m[:, :100], np.asarray(si[0])) and np.array_equal(
        m[:, 100:], np.asarray(si[1])
    )
    result = viewer.render(si, tmp_path / "rgb.png")
    png = read_png(tmp_path / "rgb.png")
    sy, sx = result.scale
    for i in range(2):
        top, left, bottom, right = _tile_box(result, i)
        expected = np.repeat(np.repeat(np.asarray(si[i]), sy, 0), sx, 1)
        assert np.array_equal(png[top:bottom, left:right], expected)
    assert "tag" not in result.caption


def test_rgb_series_in_the_viewer(rgb_series, agg_figure):
    v = viewer.show(rgb_series, figure=agg_figure, slice=0)
    assert (v.nslices, v.ntags) == (2, 1)
    assert np.array_equal(v.panels[0].image.get_array(), np.asarray(rgb_series[0]))
    _, mouse = _events(agg_figure)
    x, y = _pixel_xy(agg_figure, v.panels[0].axes, 5, 5)
    mouse("motion_notify_event", x, y)
    r, g, b = (int(c) for c in np.asarray(rgb_series[0, 5, 5]))
    assert f"(5, 5) = ({r}, {g}, {b})" in v.status.get_text()


def test_jupyter_backends_are_not_headless(monkeypatch):
    import matplotlib

    monkeypatch.delenv("DISPLAY", raising=False)
    for backend in ("module://matplotlib_inline.backend_inline", "module://ipympl.backend_nbagg"):
        monkeypatch.setattr(matplotlib, "get_backend", lambda b=backend: b)
        assert not viewer.is_headless()


def test_monochrome1_is_displayed_inverted(agg_figure, tmp_path):
    """MONOCHROME1 (CR/DX): values stay as stored, the display maps the highest to black."""
    from imagedata.testing import make_dicom_series

    truth = make_dicom_series(tmp_path / "cr", (1, 8, 8), PhotometricInterpretation="MONOCHROME1")
    si = Series(truth.path)
    assert viewer.is_inverted(si) and not viewer.is_inverted(make_series())
    np.testing.assert_array_equal(np.asarray(si), truth.data[0])  # not inverted; one image: 2-D
    hi = np.unravel_index(np.argmax(si), si.shape)
    lo = np.unravel_index(np.argmin(si), si.shape)
    rgb = viewer.to_rgb(si)
    assert tuple(rgb[hi]) == (0, 0, 0) and tuple(rgb[lo]) == (255, 255, 255)
    np.testing.assert_array_equal(viewer.montage(si, gap=0), rgb)  # the montage too
    assert tuple(viewer.to_rgb(si, invert=False)[hi]) == (255, 255, 255)
    v = viewer.show(si, figure=agg_figure)
    assert v.panels[0].image.get_cmap().name == "gray_r"

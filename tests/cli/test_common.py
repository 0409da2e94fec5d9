"""Shared command-line behaviour: one-line errors, exit codes, --debug, --quiet, warnings."""

from __future__ import annotations

import io
import logging
import warnings

import pytest

from imagedata.cli import _common, _inputs
from imagedata.errors import NoDataError, ReadError

from .conftest import one_line


def _run(body, argv=(), capsys=None):
    parser = _common.parser_for("demo", "A demo command.")
    parser.add_argument("--count", type=int, default=1)
    return _common.run(parser, list(argv), body)


def test_success_returns_zero(capsys):
    assert _run(lambda args: 0, ["--count", "3"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (NoDataError("scan/: no images; check the path"), "scan/: no images; check the path"),
        (ReadError("x.dcm: truncated pixel data"), "x.dcm: truncated pixel data"),
        (
            FileNotFoundError(2, "No such file or directory", "missing.nii"),
            "missing.nii: No such file or directory",
        ),
        (PermissionError(13, "Permission denied", "secret.dcm"), "secret.dcm: Permission denied"),
        (ValueError("bad value\nsecond line"), "bad value second line"),
    ],
)
def test_errors_are_one_line_exit_1(capsys, error, text):
    def body(args):
        raise error

    assert _run(body) == 1
    err = capsys.readouterr().err
    assert one_line(err) == f"imagedata demo: {text}"


def test_unexpected_exceptions_say_internal_error_without_traceback(capsys):
    def body(args):
        raise KeyError("oops")

    assert _run(body) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("imagedata demo: internal error (KeyError")
    assert "--debug" in line


def test_debug_prints_the_traceback(capsys):
    def body(args):
        raise ReadError("x.dcm: broken")

    assert _run(body, ["--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1] == "imagedata demo: x.dcm: broken"


@pytest.mark.parametrize("argv", [["--count", "x"], ["--nope"], ["extra"]])
def test_usage_errors_are_one_line_exit_2(capsys, argv):
    assert _run(lambda args: 0, argv) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("imagedata demo: ") and line.endswith("(see 'imagedata demo --help')")


def test_usage_error_raised_by_the_body_exits_2(capsys):
    def body(args):
        raise _common.UsageError("give at least one INPUT")

    assert _run(body) == 2
    assert "give at least one INPUT" in one_line(capsys.readouterr().err)


def test_help_exits_0(capsys):
    assert _run(lambda args: 0, ["--help"]) == 0
    assert "A demo command." in capsys.readouterr().out


def test_warnings_become_one_line(capsys):
    def body(args):
        warnings.warn("slice 3 is missing\nfilled with zeros", UserWarning, stacklevel=1)
        return 0

    assert _run(body) == 0
    assert one_line(capsys.readouterr().err) == (
        "imagedata demo: warning: slice 3 is missing filled with zeros"
    )


def test_verbose_logs_and_handler_is_removed(capsys):
    def body(args):
        logging.getLogger("imagedata.formats").info("reading 3 files")
        return 0

    assert _run(body, ["-v"]) == 0
    assert "reading 3 files" in capsys.readouterr().err
    assert _run(body) == 0  # not verbose: nothing
    assert capsys.readouterr().err == ""
    assert not logging.getLogger("imagedata").handlers[1:]  # only the package NullHandler


def test_progress_only_on_a_terminal(monkeypatch):
    items = [1, 2, 3]
    assert _common.progress(items, desc="x") is items  # pytest's stderr is not a terminal

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stderr", Tty())
    bar = _common.progress(items, desc="x")
    assert bar is not items and list(bar) == items
    assert _common.progress(items, desc="x", quiet=True) is items


def test_check_inputs_names_the_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        _inputs.check_inputs([str(tmp_path), str(tmp_path / "nope")])
    message = _common.error_message(info.value)
    assert message == f"{tmp_path / 'nope'}: no such file or folder; check the path"
    _inputs.check_inputs([str(tmp_path / "*.dcm"), "dicom://pacs:104/x"])  # left to the reader


def test_safe_names_and_selectors():
    assert _inputs.safe_name("T1 / post-contrast (3D)") == "T1_post-contrast_3D"
    assert _inputs.safe_name("../../etc") == "etc"
    assert _inputs.selector("12") == 12
    assert _inputs.selector("1.2.840.1") == "1.2.840.1"
    assert _inputs.selector("T1 axial") == "T1 axial"


def test_activity_line_only_on_a_terminal(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    with _common.activity("reading x"):
        pass  # not a terminal: nothing is written (pytest captures stderr)
    tty = Tty()
    monkeypatch.setattr("sys.stderr", tty)
    with _common.activity("reading scan/"):
        import time

        time.sleep(0.45)
    assert "reading scan/: 00:00" in tty.getvalue()
    quiet = Tty()
    monkeypatch.setattr("sys.stderr", quiet)
    with _common.activity("reading scan/", quiet=True):
        pass
    assert quiet.getvalue() == ""


def test_unreadable_file_is_named(tmp_path, monkeypatch):
    path = tmp_path / "secret.dcm"
    path.write_bytes(b"x")
    monkeypatch.setattr("os.access", lambda p, mode: False)  # as root, chmod would not do
    with pytest.raises(PermissionError) as info:
        _inputs.check_inputs([str(path)])
    message = _common.error_message(info.value)
    assert message == f"{path}: cannot read this file (permission denied)"


def test_broken_pipe_exits_quietly(capsys):
    def body(args):
        raise BrokenPipeError(32, "Broken pipe")

    assert _run(body) == 1
    assert capsys.readouterr().err == ""


def test_many_warnings_are_capped_and_quiet_hides_them(capsys):
    def body(args):
        for i in range(15):
            warnings.warn(f"file {i}: odd value", UserWarning, stacklevel=1)
        return 0

    assert _run(body) == 0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == _common.MAX_WARNINGS + 1
    assert lines[-1] == "imagedata demo: warning: 5 more warnings not shown (see them with -v)"
    assert _run(body, ["-v"]) == 0
    assert len(capsys.readouterr().err.splitlines()) == 15
    assert _run(body, ["-q"]) == 0
    assert capsys.readouterr().err == ""

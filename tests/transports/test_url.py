"""PACS URL parsing: match keys, options, and the errors for bad URLs."""

from __future__ import annotations

import pytest

from imagedata.transports import URLError, parse_url
from imagedata.transports._base import Progress, safe_name, write_atomic


def test_dicom_url_parts() -> None:
    u = parse_url(
        "dicom://10.0.0.5:11112/PACS?PatientID=P1&SeriesNumber=3&StudyDate=20240101-20240331"
        "&move=ME&move_port=4006&calling_aet=WS1&timeout=12.5&connect_timeout=2"
    )
    assert (u.host, u.port, u.called_aet, u.calling_aet) == ("10.0.0.5", 11112, "PACS", "WS1")
    assert u.match == {"PatientID": "P1", "SeriesNumber": "3", "StudyDate": "20240101-20240331"}
    assert (u.move, u.move_port, u.timeout, u.connect_timeout) == ("ME", 4006, 12.5, 2.0)
    assert u.level() == "SERIES" and not u.is_web and not u.tls


def test_web_url_credentials_and_root() -> None:
    u = parse_url(
        "dicomweb+https://al%40x:p%3Aw@pacs.example:8443/dicom-web/?StudyInstanceUID=1.2.3"
    )
    assert u.is_web and u.tls
    assert (u.username, u.password) == ("al@x", "p:w")
    assert u.base_url == "https://pacs.example:8443/dicom-web"
    assert "p:w" not in u.where()
    assert u.level() == "STUDY"


def test_keywords_override_query() -> None:
    u = parse_url("dicom://h/AET?timeout=5", timeout=9, calling_aet="OTHER")
    assert (u.timeout, u.calling_aet, u.port) == (9.0, "OTHER", 104)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://h/x", "unknown scheme"),
        ("dicom://h:104/", "no AE title"),
        ("dicom://h/AET?Patient=1", "unknown query key 'Patient'"),
        ("dicom://h/AET?StudyDate=2024", "StudyDate"),
        ("dicom://h/AET?SeriesNumber=three", "SeriesNumber"),
        ("dicom://h/AET?SeriesInstanceUID=1.2.x", "UID"),
        ("dicom://h/AET?timeout=0", "never infinite"),
        ("dicom://h/AET?timeout=inf", "never infinite"),
        ("dicom://h/AET?timeout=abc", "number of seconds"),
        ("dicom://h/THIS_TITLE_IS_TOO_LONG", "AE title"),
        ("dicom://h:99999/AET", "bad port"),
        ("dicom:///AET", "no host"),
    ],
)
def test_bad_urls(url: str, words: str) -> None:
    with pytest.raises(URLError, match=words):
        parse_url(url)


def test_unknown_option_keyword() -> None:
    with pytest.raises(URLError, match="unknown transport option"):
        parse_url("dicom://h/AET", colour="red")


def test_progress_callback_counts() -> None:
    seen: list[tuple[int, int | None, str]] = []
    p = Progress(lambda done, total, stage: seen.append((done, total, stage)))
    p()
    p.set_expected(3)
    p(2)
    p.close()
    assert seen == [(1, None, "transfer"), (3, 3, "transfer")]
    sending = Progress(lambda *args: seen.append(args), stage="send")
    sending()
    assert seen[-1] == (1, None, "send")


def test_quiet_progress_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    p = Progress(None, 2)
    p(2)
    p.close()
    assert capsys.readouterr().err == ""


def test_write_atomic_leaves_nothing_on_failure(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def boom(fh: object) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(tmp_path / "a" / "x.dcm", boom)
    assert list((tmp_path / "a").iterdir()) == []
    write_atomic(tmp_path / "a" / "x.dcm", b"data")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.dcm"]


def test_safe_name() -> None:
    assert safe_name("../Pat ID/1", "x") == "Pat_ID_1"
    assert safe_name("", "unknown") == "unknown"


@pytest.mark.parametrize(
    ("module", "url"),
    [("pynetdicom", "dicom://127.0.0.1:1/X"), ("dicomweb_client", "dicomweb+http://127.0.0.1:1/r")],
)
def test_missing_net_extra_is_named(monkeypatch: pytest.MonkeyPatch, module: str, url: str) -> None:
    import sys

    from imagedata.errors import MissingDependencyError
    from imagedata.transports import list_url

    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    monkeypatch.setitem(sys.modules, f"{module}.sop_class", None)
    with pytest.raises(MissingDependencyError, match=r"imagedata\[net\]"):
        list_url(url)


def test_progress_true_draws_a_bar_named_by_stage(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    p = Progress(True, 3, desc="series from pacs", stage="transfer")
    for _ in range(3):
        p()
    bar = p._callback.bar  # type: ignore[union-attr]
    assert (bar.n, bar.total) == (3, 3)
    p.close()
    assert "series from pacs (transfer)" in capsys.readouterr().err


def test_progress_rejects_other_values() -> None:
    with pytest.raises(TypeError, match="progress='yes'"):
        Progress("yes")

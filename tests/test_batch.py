"""Whole-archive conversion: outputs, failure isolation, collisions, resume, interruption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from imagedata.batch import MANIFEST, REPORT, BatchError, BatchOptions, convert_all
from imagedata.batch._layout import LayoutError, Names, render, safe_part
from imagedata.cli import convert as convert_cli
from imagedata.testing import make_dicom_series
from tests.archive_maker import Archive, make_archive

nib = pytest.importorskip("nibabel")

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    return make_archive(tmp_path)


def _nifti_data(path: Path) -> np.ndarray:
    """A NIfTI file's voxels in imagedata (slice, row, column) order."""
    arr = np.asarray(nib.load(path).dataobj)
    return np.transpose(arr, tuple(range(arr.ndim - 1, -1, -1)))


def _outputs(out: Path) -> dict[str, int]:
    """{relative path: mtime_ns} of every NIfTI file under `out`."""
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in out.rglob("*.nii.gz")}


def test_every_series_converted_and_the_broken_one_reported(
    archive: Archive, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    report = convert_all([archive.root], out, BatchOptions(workers=2))
    assert len(report.done) == 6 and len(report.failed) == 1 and not report.ok
    failed = report.failed[0]
    assert failed["key"] == archive.broken_uid
    assert "truncated" in failed["error"] and str(archive.broken_file) in failed["error"]
    for entry in report.done:
        truth = archive.series[entry["key"]]
        nii = next(out / o for o in entry["outputs"] if o.endswith(".nii.gz"))
        assert np.array_equal(_nifti_data(nii), truth.data)
    # nothing at all for the failed series
    assert not (out / "P3").exists()
    on_disk = json.loads((out / REPORT).read_text())
    assert on_disk["counts"] == {"done": 6, "failed": 1, "skipped": 0}
    assert on_disk["failed"][0]["error"] == failed["error"]


def test_default_layout_and_name_collisions(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = convert_all([archive.root], out, BatchOptions(workers=1))
    targets = sorted(e["target"] for e in report.done)
    assert targets == [
        "P1/20240110_Head/001_T1_axial",
        "P1/20240110_Head/002_T2_tra",
        "P1/20240520_Head_FU/001_T1_axial",
        "P2/20240301_Abdomen/003_dup",
        "P2/20240301_Abdomen/003_dup_2",
        "P2/20240301_Abdomen/004_CT",
    ]
    dups = {e["key"]: e["target"] for e in report.done if "dup" in e["target"]}
    shapes = {_nifti_data(out / t / "Image.nii.gz").shape for t in dups.values()}
    assert len(shapes) == 2  # two different series, neither overwrote the other


def test_layout_with_extension_gives_files(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "out"
    layout = "{PatientID}/{StudyInstanceUID}/{SeriesNumber}.nii.gz"
    report = convert_all([archive.root], out, BatchOptions(workers=1, layout=layout))
    files = sorted(e["target"] for e in report.done)
    assert all(f.endswith(".nii.gz") and (out / f).is_file() for f in files)
    p2 = [f for f in files if f.startswith("P2/")]
    assert sorted(Path(f).name for f in p2) == ["3.nii.gz", "3_2.nii.gz", "4.nii.gz"]


def test_resume_skips_finished_and_redoes_changed(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert_all([archive.root], out, BatchOptions(workers=1))
    before = _outputs(out)
    second = convert_all([archive.root], out, BatchOptions(workers=1))
    assert len(second.skipped) == 6 and second.done == [] and len(second.failed) == 1
    assert _outputs(out) == before  # not rewritten
    # repair the broken series, change one source file: exactly those two are redone
    truth = archive.series[archive.broken_uid]
    assert archive.broken_file is not None
    make_dicom_series(
        archive.broken_file.parent,
        shape=(3, 8, 10),
        SeriesNumber=5,
        SeriesDescription="broken",
        PatientID="P3",
        StudyDate="20240415",
        StudyDescription="Spine",
        SeriesInstanceUID=truth.series_instance_uid,
    )
    archive.broken_file.unlink()  # the regenerated files have new names
    p1b = next(s for s in archive.series.values() if s.path.name == "b")
    f = sorted(p1b.files)[0]
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 3_000_000_000))
    third = convert_all([archive.root], out, BatchOptions(workers=1))
    redone = sorted(e["target"] for e in third.done)
    assert redone == ["P1/20240110_Head/002_T2_tra", "P3/20240415_Spine/005_broken"]
    assert third.failed == [] and len(third.skipped) == 5
    after = _outputs(out)
    unchanged = {k: v for k, v in before.items() if "002_T2" not in k}
    assert {k: after[k] for k in unchanged} == unchanged
    # names stay with their series across runs
    assert {e["key"]: e["target"] for e in third.done}[p1b.series_instance_uid] == redone[0]


def test_force_redoes_everything(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert_all([archive.root], out, BatchOptions(workers=1))
    again = convert_all([archive.root], out, BatchOptions(workers=1, force=True))
    assert len(again.done) == 6 and again.skipped == []
    assert sorted(e["target"] for e in again.done)[-1] == "P2/20240301_Abdomen/004_CT"


def test_existing_foreign_files_are_not_overwritten(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "out"
    mine = out / "P1" / "20240110_Head" / "001_T1_axial"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    report = convert_all([archive.root], out, BatchOptions(workers=1))
    assert (mine / "notes.txt").read_text() == "mine"
    assert "P1/20240110_Head/001_T1_axial_2" in {e["target"] for e in report.done}


def test_output_inside_input_is_refused(archive: Archive) -> None:
    with pytest.raises(BatchError, match="overlap"):
        convert_all([archive.root], archive.root / "out", BatchOptions(workers=1))


def test_unknown_layout_attribute(archive: Archive, tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="unknown attribute 'Colour'"):
        convert_all([archive.root], tmp_path / "o", BatchOptions(workers=1, layout="{Colour}"))


def test_query_selects_series(archive: Archive, tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    report = convert_all(
        [archive.root], tmp_path / "out", BatchOptions(workers=1), db=db, query={"modality": "CT"}
    )
    assert [e["target"] for e in report.done] == ["P2/20240301_Abdomen/004_CT"]
    # the catalogue alone (no sources) selects from what it holds
    again = convert_all(
        [], tmp_path / "out2", BatchOptions(workers=1), db=db, query={"patient": "P1"}
    )
    assert len(again.done) == 3


# --- names ---------------------------------------------------------------------------------


def test_safe_names() -> None:
    assert safe_part("a/b\\c:d*e?f") == "a_b_c_d_e_f"
    assert safe_part("NUL") == "NUL_" and safe_part("com1.txt") == "com1.txt_"
    assert safe_part(".hidden") == "hidden" and safe_part("") == "none"
    assert safe_part("Ü-é") == "-" and safe_part("Müller") == "M_ller"
    assert len(safe_part("x" * 200)) == 100
    assert render("{SeriesNumber:03d}_{SeriesDescription}", {"SeriesDescription": "../x"}) == (
        "000_.._x"
    )


def test_names_collide_case_insensitively() -> None:
    names = Names()
    assert names.unique("P1/T1", "") == "P1/T1"
    assert names.unique("p1/t1", "") == "p1/t1_2"
    assert names.unique("P1/T1.nii.gz", ".nii.gz") == "P1/T1.nii.gz"
    assert names.unique("P1/t1.nii.gz", ".nii.gz") == "P1/t1_2.nii.gz"
    # a name that would put one series inside another's folder cannot be given
    with pytest.raises(LayoutError, match="no free name"):
        names.unique("P1/T1/x", "")


# --- command line --------------------------------------------------------------------------


def test_cli_exit_status_and_report(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    code = convert_cli.main([str(archive.root), str(out), "--recursive", "--workers", "2"])
    captured = capsys.readouterr()
    assert code == 1
    assert "failed: P3 / 20240415 / series 5 'broken'" in captured.err
    assert "6 series converted, 1 failed" in captured.out
    assert (out / REPORT).is_file() and (out / MANIFEST).is_file()
    code = convert_cli.main([str(archive.root), str(out), "-r", "--workers", "1"])
    assert code == 1 and "0 series converted, 1 failed, 6 unchanged" in capsys.readouterr().out


def test_cli_bids(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "bids"
    code = convert_cli.main(
        [str(archive.root), str(out), "-r", "--bids", "--compression-level", "9"]
    )
    assert code == 1  # the broken series
    anat = out / "sub-P1" / "ses-20240110" / "anat"
    names = sorted(p.name for p in anat.iterdir())
    assert names == [
        "sub-P1_ses-20240110_acq-T1axial_run-1_MR.json",
        "sub-P1_ses-20240110_acq-T1axial_run-1_MR.nii.gz",
        "sub-P1_ses-20240110_acq-T2tra_run-2_MR.json",
        "sub-P1_ses-20240110_acq-T2tra_run-2_MR.nii.gz",
    ]
    sidecar = json.loads((anat / names[0]).read_text())
    assert sidecar["SeriesNumber"] == 1
    assert (out / "dataset_description.json").is_file()
    assert (out / "sub-P2" / "ses-20240301" / "ct").is_dir()


def test_cli_usage_errors(archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = str(tmp_path / "o")
    src = str(archive.root)
    for extra, text in [
        (["--sernum", "3"], "--sernum applies to one series"),
        (["--overwrite"], "--overwrite does not apply"),
        (["--bids", "--to", "itk"], "--bids writes NIfTI"),
        (["--workers", "0"], "--workers needs"),
        (["--compression-level", "11"], "invalid choice"),
    ]:
        assert convert_cli.main([src, out, "-r", *extra]) == 2, extra
        assert text in capsys.readouterr().err


def test_single_series_convert_unchanged(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path / "one", shape=(3, 6, 8))
    target = tmp_path / "one.nii.gz"
    assert convert_cli.main([str(truth.path), str(target), "--compression-level", "1"]) == 0
    assert np.array_equal(_nifti_data(target), truth.data)


# --- interruption ----------------------------------------------------------------------------


def _big_archive(root: Path, n: int = 12) -> Path:
    for k in range(n):
        make_dicom_series(
            root / f"s{k}",
            shape=(24, 128, 128),
            PatientID="PX",
            SeriesNumber=k + 1,
            SeriesDescription=f"series {k}",
        )
    return root


def _start(src: Path, out: Path, workers: int = 1) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [sys.executable, "-m", "imagedata", "convert", str(src), str(out), "-r"]
    cmd += ["--workers", str(workers), "--compression-level", "9"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_first_done(out: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    manifest = out / MANIFEST
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.is_file() and '"event":"done"' in manifest.read_text():
            return
        time.sleep(0.05)
    pytest.fail("the conversion finished no series in time")


def _complete(out: Path) -> list[Path]:
    """Every NIfTI output under out, each read whole (raises on a partial file).

    The hidden temporary folder of a write cut short by kill -9 is not an output (the
    next run removes it: checked at the end of the test below).
    """
    files = sorted(
        f
        for f in out.rglob("*.nii.gz")
        if not any(".imagedata-tmp-" in part for part in f.relative_to(out).parts)
    )
    for f in files:
        np.asarray(nib.load(f).dataobj).sum()
    return files


@pytest.mark.parametrize("how", ["kill", "interrupt"])
def test_interrupted_run_leaves_only_complete_outputs(tmp_path: Path, how: str) -> None:
    src = _big_archive(tmp_path / "src")
    out = tmp_path / "out"
    proc = _start(src, out)
    try:
        _wait_for_first_done(out, proc)
        proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if how == "interrupt":
        assert proc.returncode == 130
        leftovers = [p for p in out.rglob("*") if ".imagedata-tmp-" in p.name]
        assert leftovers == []
    first = _complete(out)
    assert 1 <= len(first) < 12
    report = convert_all([src], out, BatchOptions(workers=1))
    assert len(report.skipped) >= len(first) - 1
    assert len(report.done) + len(report.skipped) == 12 and report.failed == []
    assert len(_complete(out)) == 12
    assert [p for p in out.rglob("*") if ".imagedata-tmp-" in p.name] == []


def _descendants(pid: int) -> set[int]:
    """The processes below `pid` (Linux /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        kids = {c for c, pp in parents.items() if pp == p} - found
        found |= kids
        todo.extend(kids)
    return found


def _running(pid: int) -> bool:
    """True while `pid` runs (a zombie, ended but not yet reaped, has an empty cmdline)."""
    try:
        return bool(Path(f"/proc/{pid}/cmdline").read_bytes())
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_killed_run_leaves_no_worker_processes(tmp_path: Path) -> None:
    """kill -9 of a run with worker processes: the workers end too, outputs stay complete."""
    src = _big_archive(tmp_path / "src")
    out = tmp_path / "out"
    proc = _start(src, out, workers=2)
    try:
        _wait_for_first_done(out, proc)
        helpers = _descendants(proc.pid)
        assert len(helpers) >= 2  # the worker processes (and the forkserver)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_running(p) for p in helpers):
        time.sleep(0.2)
    alive = [p for p in helpers if _running(p)]
    for p in alive:  # do not leave them behind when the test fails
        os.kill(p, signal.SIGKILL)
    assert alive == []
    _complete(out)  # what the workers finished after the kill is complete too (not recorded)
    report = convert_all([src], out, BatchOptions(workers=2))
    assert len(report.done) + len(report.skipped) == 12 and report.failed == []
    assert len(report.skipped) >= 1  # the series recorded done before the kill
    assert len(_complete(out)) == 12


def test_batch_options_need_recursive(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    truth = make_dicom_series(tmp_path / "one", shape=(3, 6, 8))
    for extra in (["--patient", "P1"], ["--workers", "2"], ["--layout", "{PatientID}"]):
        code = convert_cli.main([str(truth.path), str(tmp_path / "o.nii.gz"), *extra])
        assert code == 2
        assert f"{extra[0]} needs --recursive" in capsys.readouterr().err
    assert not (tmp_path / "o.nii.gz").exists()


def test_layout_may_use_descriptive_attributes(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "out"
    layout = "{PatientName}/{StudyTime}/{AccessionNumber}_{SeriesInstanceUID}.nii"
    report = convert_all([archive.root], out, BatchOptions(workers=1, layout=layout))
    assert len(report.done) == 6
    for entry in report.done:
        assert entry["target"] == f"Synthetic_Patient/120000/ACC0001_{entry['key']}.nii"
        assert (out / entry["target"]).is_file()


def test_manifest_line_cut_by_a_kill(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert_all([archive.root], out, BatchOptions(workers=1))
    manifest = out / MANIFEST
    manifest.write_text(manifest.read_text() + '{"event":"done","key":"1.2.')
    again = convert_all([archive.root], out, BatchOptions(workers=1))
    assert len(again.skipped) == 6 and len(again.failed) == 1
    lines = manifest.read_text().splitlines()
    assert json.loads(lines[-1])["event"] == "failed"  # appended on a line of its own


def test_tar_archive_inside_a_folder(tmp_path: Path) -> None:
    import tarfile

    truth = make_dicom_series(tmp_path / "stage" / "t1", shape=(4, 6, 8), PatientID="PT")
    src = tmp_path / "src"
    src.mkdir()
    with tarfile.open(src / "cd.tar.gz", "w:gz") as tf:
        tf.add(truth.path, arcname="t1")
    report = convert_all([src], tmp_path / "out", BatchOptions(workers=1))
    assert [e["key"] for e in report.done] == [truth.series_instance_uid]
    nii = next(tmp_path / "out" / o for o in report.done[0]["outputs"] if o.endswith(".nii.gz"))
    assert np.array_equal(_nifti_data(nii), truth.data)
    again = convert_all([src], tmp_path / "out", BatchOptions(workers=1))
    assert len(again.skipped) == 1


def test_nothing_to_convert_is_said(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "readme.txt").write_text("no images here")
    assert convert_cli.main([str(src), str(tmp_path / "out"), "-r"]) == 0
    assert "no DICOM series selected" in capsys.readouterr().err

"""Every header is read once per batch run: in the catalogue's header pass, in chunks
that worker processes can run, and handed to the tasks that convert the series; the
checksums of the manifest, computed by the batch process or by the tasks, agree."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sqlite3
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imagedata import _catalog_scan
from imagedata.archives import Member
from imagedata.batch import MANIFEST, BatchOptions, convert_all, plan
from imagedata.batch import _digest as digest_module
from imagedata.batch._digest import Prehash
from imagedata.batch._manifest import Manifest
from imagedata.batch._task import run_task
from imagedata.catalog import Catalog
from imagedata.formats.dicom import _scan
from tests.archive_maker import Archive, make_archive
from tests.conftest import SHARED_DATA

nib = pytest.importorskip("nibabel")


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    return make_archive(tmp_path)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count the calls of the header reader in this process, by file name."""
    calls: Counter[str] = Counter()
    real = _scan.read_header

    def counting(member: Member, pixel_data: bool = True) -> Any:
        calls[member.name] += 1
        return real(member, pixel_data)

    monkeypatch.setattr(_scan, "read_header", counting)
    return calls


def _image_files(archive: Archive) -> set[str]:
    """The paths the catalogue gives the image files (``zip?member`` inside the zip)."""
    with Catalog(":memory:") as cat:
        cat.index([archive.root])
        return {p for (p,) in cat.db.execute("SELECT path FROM files WHERE kind = 'image'")}


def test_each_header_is_read_once_in_a_run(
    archive: Archive, tmp_path: Path, reads: Counter[str]
) -> None:
    images = _image_files(archive)
    reads.clear()
    report = convert_all([archive.root], tmp_path / "out", BatchOptions(workers=1))
    assert len(report.done) == 6 and len(report.failed) == 1
    assert {p: reads[p] for p in images} == dict.fromkeys(images, 1)
    # the broken file has no header to hand on: its series' task reads it again (and fails)
    assert reads[str(archive.broken_file)] == 2


def _tasks(archive: Archive, out: Path) -> list[Any]:
    headers: dict[str, bytes] = {}
    with Catalog(":memory:") as cat:
        cat.index([archive.root], headers=headers)
        tasks, _ = plan(cat.series(), cat, out, BatchOptions(), Manifest.load(out), headers)
    return tasks


def test_tasks_carry_the_headers_and_read_none(
    archive: Archive, tmp_path: Path, reads: Counter[str]
) -> None:
    """What a worker process gets: a task with the headers of all its (good) files."""
    tasks = [t for t in _tasks(archive, tmp_path / "out") if t.key != archive.broken_uid]
    assert len(tasks) == 6
    assert all(len(t.headers) == len(t.sources) and None not in t.headers for t in tasks)
    reads.clear()
    for task in tasks:
        result = run_task(task)
        assert result.status == "done", result.error
        nii = next(Path(p) for p in result.outputs if p.endswith(".nii.gz"))
        arr = np.asarray(nib.load(nii).dataobj)
        assert np.array_equal(arr.transpose(*range(arr.ndim)[::-1]), archive.series[task.key].data)
    assert sum(reads.values()) == 0


def test_a_file_changed_since_the_header_pass_is_read_again(
    archive: Archive, tmp_path: Path, reads: Counter[str]
) -> None:
    tasks = {t.key: t for t in _tasks(archive, tmp_path / "out")}
    (uid,) = archive.uid("P1", 2)
    task = tasks[uid]
    changed = Path(task.sources[1].path)
    st = changed.stat()
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    reads.clear()
    result = run_task(task)
    assert result.status == "done", result.error
    assert dict(reads) == {str(changed): 1}


def _tables(cat: Catalog) -> dict[str, list[Any]]:
    db: sqlite3.Connection = cat.db
    return {
        t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
        for t in ("files", "instances", "series_attrs", "patients", "studies", "series")
    }


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as executor:
        yield executor


def test_index_on_worker_processes_gives_the_same_catalogue(
    archive: Archive, tmp_path: Path, pool: ProcessPoolExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_catalog_scan, "MIN_CHUNK", 2)  # several chunks of the folders
    with Catalog(tmp_path / "serial.sqlite") as cat:
        serial = cat.index([archive.root])
        expected = _tables(cat)
    headers: dict[str, bytes] = {}
    with Catalog(tmp_path / "pool.sqlite") as cat:
        report = cat.index([archive.root], executor=pool, workers=2, headers=headers)
        assert _tables(cat) == expected
    assert str(report) == str(serial) and report.broken == serial.broken
    assert set(headers) == _image_files(archive)


def test_chunks_keep_the_walk_order_and_archives_alone(tmp_path: Path) -> None:
    units = [_catalog_scan.Unit(f"/a/{k:04d}", 1, 1, False) for k in range(1000)]
    units.insert(500, _catalog_scan.Unit("/a/x.zip", 1, 1, True))
    parts = _catalog_scan.chunks(units, 2)
    assert [u for c in parts for u in c.units] == units
    assert [c.size for c in parts if c.units[0].archive] == [1]
    n = 2 * _catalog_scan.CHUNKS_PER_WORKER  # chunks per worker, one more where the zip cuts
    assert n <= len(parts) - 1 <= n + 1


def _checksum(paths: list[str]) -> str:
    """SHA-256 over the SHA-256 of each file (zip members read from the zip), by hashlib."""
    import zipfile

    parts = []
    for p in paths:
        base, _, name = p.partition("?")
        if name:
            with zipfile.ZipFile(base) as zf:
                data = zf.read(name)
        else:
            data = Path(p).read_bytes()
        parts.append(hashlib.sha256(data).digest())
    return hashlib.sha256(b"".join(parts)).hexdigest()


@pytest.mark.parametrize("workers", [1, 2])
def test_manifest_checksums(archive: Archive, tmp_path: Path, workers: int) -> None:
    """Computed by the tasks (one worker) or partly by the batch process (two): the same."""
    out = tmp_path / "out"
    report = convert_all([archive.root], out, BatchOptions(workers=workers))
    assert len(report.done) == 6
    events = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    done = [e for e in events if e["event"] == "done"]
    assert len(done) == 6
    for e in done:
        assert e["sha256"] == _checksum([s[0] for s in e["sources"]])


def test_checksums_given_are_used_unless_the_file_changed(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prehash = Prehash([archive.root])
    while prehash():
        pass
    headers: dict[str, bytes] = {}
    with Catalog(":memory:") as cat:
        cat.index([archive.root], headers=headers)
        (uid,) = archive.uid("P1", 2)
        tasks, _ = plan(
            cat.series(uid=uid), cat, tmp_path / "out", BatchOptions(),
            Manifest.load(tmp_path / "out"), headers, prehash.digests,
        )  # fmt: skip
    (task,) = tasks
    assert len(task.digests) == 4 and None not in task.digests
    computed: list[str] = []
    real = digest_module.file_digest

    def counting(member: Member) -> bytes:
        computed.append(member.name)
        return real(member)

    monkeypatch.setattr(digest_module, "file_digest", counting)
    expected = _checksum([s.path for s in task.sources])
    assert run_task(task).sha256 == expected and computed == []
    changed = Path(task.sources[2].path)
    changed.write_bytes(changed.read_bytes())  # same bytes, a new modification time
    st = changed.stat()
    os.utime(changed, ns=(st.st_atime_ns, task.sources[2].mtime_ns + 1_000_000_000))
    assert run_task(task).sha256 == expected and computed == [str(changed)]


def test_the_batch_process_leaves_reading_to_the_workers(archive: Archive, tmp_path: Path) -> None:
    """With worker processes, the command itself imports no DICOM reader (it would wait)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from imagedata.cli import convert\n"
        "if __name__ == '__main__':\n"
        f"    status = convert.main([{str(archive.root)!r}, {str(tmp_path / 'out')!r},"
        " '-r', '-q', '--workers', '2'])\n"
        "    print(status, sorted(m for m in ('pydicom', 'nibabel', 'imagedata.loadsave')"
        " if m in sys.modules))\n"
    )
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": str(src)}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.stdout.split("\n")[-2] == "1 []", run.stderr[-2000:]  # 1: the broken series
    assert len(json.loads((tmp_path / "out" / "imagedata-report.json").read_text())["done"]) == 6


ENHANCED = SHARED_DATA / "dcm_qa" / "dcm_qa_enh" / "In" / "Philips" / "IM_0027_fMAP.dcm"


@pytest.mark.skipif(not ENHANCED.is_file(), reason=f"shared test data missing: {ENHANCED}")
def test_a_multiframe_file_is_read_again_by_its_task(
    archive: Archive, tmp_path: Path, reads: Counter[str]
) -> None:
    """Only single-frame headers are handed on; an enhanced multi-frame file is re-read."""
    import shutil

    src = tmp_path / "src"
    shutil.copytree(archive.root / "P1" / "a", src / "a")
    shutil.copy(ENHANCED, src / "enhanced.dcm")
    report = convert_all([src], tmp_path / "out", BatchOptions(workers=1))
    assert len(report.done) == 2 and report.failed == [], report.failed
    assert reads[str(src / "enhanced.dcm")] == 2
    assert {reads[str(p)] for p in (src / "a").iterdir()} == {1}


def test_worker_processes_read_pixels_with_one_thread(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A series per process and core: no thread pool per series in a worker process."""
    from imagedata.batch import _run

    tasks = _tasks(archive, tmp_path / "out")
    assert {t.threads for t in tasks} == {None}
    seen: list[Any] = []
    monkeypatch.setattr(_run, "run_pool", lambda ts, pool, done: seen.extend(ts))
    with _run.Workers(2) as workers:
        workers.run(tasks, lambda result: None)
    assert len(seen) == len(tasks) and {t.threads for t in seen} == {1}
    assert [t.key for t in seen] == [t.key for t in tasks]

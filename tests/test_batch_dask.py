"""The Dask path: a real ``dask scheduler`` and ``dask worker`` processes on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from imagedata.batch import BatchOptions, convert_all
from imagedata.cli import convert as convert_cli
from tests.archive_maker import Archive, make_archive

pytest.importorskip("distributed")
nib = pytest.importorskip("nibabel")

SRC = Path(__file__).resolve().parents[1] / "src"
START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dask() -> list[str]:
    exe = shutil.which("dask") or str(Path(sys.executable).parent / "dask")
    if not Path(exe).exists():
        pytest.skip("the 'dask' command is not installed (pip install 'imagedata[dask]')")
    return [exe]


def _wait_for_workers(
    address: str, n: int, procs: list[subprocess.Popen[bytes]], log: Path
) -> None:
    from distributed import Client

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            pytest.fail(f"a dask process exited early; see the logs in {log}")
        try:
            with Client(address, timeout="5s") as client:
                client.wait_for_workers(n, timeout=deadline - time.monotonic())
                return
        except (OSError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(f"the dask cluster at {address} did not get {n} workers in {START_TIMEOUT} s")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scheduler and two single-threaded workers (processes), stopped at the end."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("dask")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    procs: list[subprocess.Popen[bytes]] = []

    def start(args: list[str], name: str) -> None:
        with open(log / f"{name}.log", "wb") as fp:
            procs.append(
                subprocess.Popen(
                    [*_dask(), *args], env=env, stdout=fp, stderr=subprocess.STDOUT, cwd=log
                )
            )

    try:
        start(
            ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            "scheduler",
        )
        for k in range(2):
            start(
                [
                    "worker", address, "--nthreads", "1", "--nworkers", "1",
                    "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{k}",
                    "--local-directory", str(log / f"w{k}"),
                ],
                f"worker{k}",
            )  # fmt: skip
        _wait_for_workers(address, 2, procs, log)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    return make_archive(tmp_path)


def test_convert_on_a_dask_cluster(cluster: str, archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = convert_all([archive.root], out, BatchOptions(scheduler=cluster))
    assert len(report.done) == 6 and len(report.failed) == 1
    assert report.failed[0]["key"] == archive.broken_uid
    assert "truncated" in report.failed[0]["error"]
    for entry in report.done:
        nii = next(out / o for o in entry["outputs"] if o.endswith(".nii.gz"))
        arr = np.asarray(nib.load(nii).dataobj)
        truth = archive.series[entry["key"]].data
        assert np.array_equal(np.transpose(arr, (2, 1, 0)), truth)
    again = convert_all([archive.root], out, BatchOptions(scheduler=cluster))
    assert len(again.skipped) == 6 and again.done == []


def test_cli_scheduler(cluster: str, archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = convert_cli.main([str(archive.root), str(out), "-r", "--scheduler", cluster, "-q"])
    assert code == 1
    assert len(list(out.rglob("*.nii.gz"))) == 6


def test_unreachable_scheduler(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    address = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.monotonic()
    code = convert_cli.main([str(archive.root), str(tmp_path / "o"), "-r", "--scheduler", address])
    assert code == 1 and time.monotonic() - t0 < 60
    assert f"cannot reach the Dask scheduler at {address}" in capsys.readouterr().err


def test_local_cluster(archive: Archive, tmp_path: Path) -> None:
    report = convert_all([archive.root], tmp_path / "o", BatchOptions(scheduler="local", workers=2))
    assert len(report.done) == 6 and len(report.failed) == 1

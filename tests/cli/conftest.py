"""Fixtures for the command-line tests.

``npz_format`` registers a small format plugin ('npztest', files ``*.npztest``) through
the public :func:`imagedata.formats.register`, so the command-line logic (argument
handling, multi-series output, errors) is tested independently of the real readers;
the real DICOM/NIfTI round trips are tested as well where those formats are installed.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imagedata import formats
from imagedata.errors import ReadError, WriteError


class NpzFormat:
    """Stores the array and the pickled header in one ``.npztest`` file (tests only)."""

    name = "npztest"
    extensions = (".npztest",)
    extra = None

    def __init__(self) -> None:
        self.write_options: list[dict[str, Any]] = []

    def sniff(self, name: str, head: bytes) -> bool:
        return name.endswith(".npztest")

    def read(self, members: Sequence[Any], *, input_order: str, headers_only: bool, **options: Any):
        if len(members) != 1:
            raise ReadError(f"npztest reads one file, got {len(members)}")
        try:
            with np.load(members[0].path, allow_pickle=False) as f:
                data = f["data"]
                header = pickle.loads(f["header"].tobytes())
        except Exception as err:
            raise ReadError(f"{members[0].name}: not a readable npztest file ({err})") from err
        return data, header.replace(input_format="npztest")

    def write(self, si: Any, destination: Path, **options: Any) -> list[str]:
        self.write_options.append(dict(options))
        if destination.suffix != ".npztest":
            destination = destination / "Image.npztest"
        if destination.exists() and not options.get("overwrite"):
            raise WriteError(f"{destination}: the file exists; pass overwrite=True")
        destination.parent.mkdir(parents=True, exist_ok=True)
        header = np.frombuffer(pickle.dumps(si.header), dtype=np.uint8)
        with open(destination, "wb") as f:
            np.savez(f, data=np.asarray(si), header=header)
        return [str(destination)]


@pytest.fixture
def npz_format() -> Iterator[NpzFormat]:
    plugin = NpzFormat()
    formats.register(plugin)
    yield plugin
    formats._plugins.pop(plugin.name, None)


def save_npz(path: Path, si: Any) -> Path:
    """Write `si` as an npztest file (for building inputs)."""
    header = np.frombuffer(pickle.dumps(si.header), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, data=np.asarray(si), header=header)
    return path


def load_npz(path: Path) -> Any:
    from imagedata.series import Series

    return Series(str(path))


def one_line(text: str) -> str:
    """Assert `text` is exactly one line and return it."""
    lines = text.strip("\n").splitlines()
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{text}"
    return lines[0]

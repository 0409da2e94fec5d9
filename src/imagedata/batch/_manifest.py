"""The manifest of a batch conversion: what was started, finished or failed, per series.

The manifest is ``OUT/imagedata-manifest.jsonl``, one JSON object a line, appended
(and flushed to disk) by the process that runs the batch, never by workers:

* ``{"event": "start", "key": ..., "target": ...}`` before a series is handed out;
* ``{"event": "done", "key": ..., "target": ..., "sources": [[path, size, mtime_ns],
  ...], "sha256": ..., "outputs": [...], ...}`` when its outputs are in place (``sha256``:
  over the SHA-256 of each source, see :mod:`._digest`);
* ``{"event": "failed", "key": ..., "error": ...}`` when it failed.

The last event of a series wins.  A line cut short by a hard kill is ignored.  A
re-run skips a series whose last event is ``done`` with the same source files
(paths, sizes, modification times) and whose outputs all exist; every target that
appears in the manifest belongs to the batch (it is reused for the same series, and
may be replaced when that series is redone).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

#: File name of the manifest in the output folder.
MANIFEST = "imagedata-manifest.jsonl"


@dataclass
class Manifest:
    """The manifest of one output folder: read at start, appended while running."""

    path: Path
    #: Last event per series key.
    last: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Target (relative path) recorded per series key.
    targets: dict[str, str] = field(default_factory=dict)
    _fp: IO[str] | None = None

    @classmethod
    def load(cls, out: Path) -> Manifest:
        """Read ``out/imagedata-manifest.jsonl`` (missing: an empty manifest)."""
        m = cls(out / MANIFEST)
        if not m.path.is_file():
            return m
        with open(m.path, encoding="utf-8") as fp:
            for n, line in enumerate(fp, 1):
                try:
                    event = json.loads(line)
                    key = str(event["key"])
                except (ValueError, KeyError, TypeError):
                    logger.warning("%s line %d: not a complete record, ignored", m.path, n)
                    continue
                m.last[key] = event
                if event.get("target"):
                    m.targets[key] = str(event["target"])
        return m

    def is_done(self, key: str, sources: Sequence[Sequence[Any]], out: Path) -> bool:
        """True when `key` finished with these `sources` and its outputs are still there."""
        event = self.last.get(key)
        if not event or event.get("event") != "done":
            return False
        if [list(s) for s in event.get("sources", [])] != [list(s) for s in sources]:
            return False
        return all((out / o).exists() for o in event.get("outputs", [])) and bool(
            event.get("outputs")
        )

    def append(self, *events: dict[str, Any]) -> None:
        """Add events and flush them to disk (one fsync for all)."""
        if self._fp is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            cut = _ends_cut(self.path)
            self._fp = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            if cut:  # a line cut short by a kill: end it, so the next record stands alone
                self._fp.write("\n")
        self._fp.write("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events))
        self._fp.flush()
        os.fsync(self._fp.fileno())
        for event in events:
            self.last[str(event["key"])] = event
            if event.get("target"):
                self.targets[str(event["key"])] = str(event["target"])

    def close(self) -> None:
        """Close the manifest file."""
        if self._fp is not None:
            self._fp.close()
            self._fp = None


def _ends_cut(path: Path) -> bool:
    """True when the file exists, is not empty and does not end with a newline."""
    try:
        with open(path, "rb") as fp:
            fp.seek(0, os.SEEK_END)
            if fp.tell() == 0:
                return False
            fp.seek(-1, os.SEEK_END)
            return fp.read(1) != b"\n"
    except FileNotFoundError:
        return False
